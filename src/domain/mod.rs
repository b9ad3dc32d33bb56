//! Validated value types. Each `parse` trims and checks its input, so a value of one of these
//! types is always fit to store; the errors are [`FieldError`]s a form shows beside the field in
//! the person's language. Nothing here knows about HTTP or the database.

mod audit;
mod call;
mod hours;
mod ids;
mod invite;
mod time;
mod visit;
mod waiting;

pub use audit::AuditAction;
pub use call::{CallRole, EndReason};
pub use hours::{
    DAY_MINUTES, DateException, Occurrence, Span, VisitingHours, Window, clock, day_label,
    parse_clock, parse_day,
};
pub use ids::{RandomId, random_token, sha256_hex};
pub use invite::InviteStatus;
pub use time::HospitalZone;
pub use visit::{
    MAX_REPEAT_DAYS, OverrideReason, Refusal, Repeat, VisitFacts, VisitOutcome, VisitState,
    peak_with_one_more,
};
pub use waiting::{
    AdmissionHow, BedsideAnswer, DeviceCheck, NotNowMessage, SendAwayReason, UnpairReason,
};

use crate::i18n::{Text, with_number};

/// Why a form field was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldError {
    /// Empty after trimming.
    Required,
    /// Longer than the maximum number of characters.
    TooLong(usize),
    /// Holds a control character (newline, tab, NUL, ...).
    ControlChars,
    /// Holds an invisible or text-direction character (U+202E and its kin), which can make a
    /// list show one name as another.
    InvisibleChars,
    /// A username outside the allowed alphabet or length.
    UsernameInvalid,
    /// Shorter than the configured minimum.
    PasswordTooShort(usize),
    /// Over the byte limit checked before hashing.
    PasswordTooLong,
    /// On the list of the most common passwords.
    PasswordCommon,
    /// The two password fields differ.
    PasswordMismatch,
    /// The password equals the username.
    PasswordIsUsername,
    /// The username belongs to another account.
    UsernameTaken,
    /// Another patient has this record number.
    RecordNumberTaken,
    /// Visiting hours not written as `11:00-13:00, 17:00-20:00`.
    HoursInvalid,
    /// Two windows of one day overlap.
    HoursOverlap,
    /// Not a date (`2026-12-24`).
    DateInvalid,
    /// Not a time of day (`16:30`).
    TimeInvalid,
    /// A whole number outside `min..=max`.
    NumberOutOfRange(i64, i64),
    /// The last date is before the first.
    EndBeforeStart,
    /// Another ward has this name.
    WardNameTaken,
    /// No ward chosen, or one the person does not work in.
    WardUnknown,
    /// The default visit length is longer than the longest.
    DefaultOverMax,
    /// Not a phone number (digits, spaces, `+ - ( ) .`).
    PhoneInvalid,
    /// Not one of the choices the form offered.
    ChooseFromList,
    /// A date range longer than a page can show.
    RangeTooLong,
    /// The last active administrator would lose their role.
    LastAdmin,
    /// The current password typed is not the account's.
    PasswordWrong,
    /// The new password is the current one.
    PasswordUnchanged,
}

impl FieldError {
    /// The message shown to the person.
    pub fn message(self, t: &Text) -> String {
        match self {
            FieldError::Required => t.err_required.to_string(),
            FieldError::TooLong(max) => with_number(t.err_too_long, max),
            FieldError::ControlChars => t.err_control_chars.to_string(),
            FieldError::InvisibleChars => t.err_invisible_chars.to_string(),
            FieldError::UsernameInvalid => t.err_username_invalid.to_string(),
            FieldError::PasswordTooShort(min) => with_number(t.err_password_short, min),
            FieldError::PasswordTooLong => t.err_password_long.to_string(),
            FieldError::PasswordCommon => t.err_password_common.to_string(),
            FieldError::PasswordMismatch => t.err_password_mismatch.to_string(),
            FieldError::PasswordIsUsername => t.err_password_username.to_string(),
            FieldError::UsernameTaken => t.err_username_taken.to_string(),
            FieldError::RecordNumberTaken => t.err_record_taken.to_string(),
            FieldError::HoursInvalid => t.err_hours_invalid.to_string(),
            FieldError::HoursOverlap => t.err_hours_overlap.to_string(),
            FieldError::DateInvalid => t.err_date_invalid.to_string(),
            FieldError::TimeInvalid => t.err_time_invalid.to_string(),
            FieldError::NumberOutOfRange(min, max) => t
                .err_number_range
                .replace("{min}", &min.to_string())
                .replace("{max}", &max.to_string()),
            FieldError::EndBeforeStart => t.err_end_before_start.to_string(),
            FieldError::WardNameTaken => t.err_ward_taken.to_string(),
            FieldError::WardUnknown => t.err_ward_unknown.to_string(),
            FieldError::DefaultOverMax => t.err_default_over_max.to_string(),
            FieldError::PhoneInvalid => t.err_phone_invalid.to_string(),
            FieldError::ChooseFromList => t.err_choose_from_list.to_string(),
            FieldError::RangeTooLong => t.err_range_too_long.to_string(),
            FieldError::LastAdmin => t.err_last_admin.to_string(),
            FieldError::PasswordWrong => t.err_password_wrong.to_string(),
            FieldError::PasswordUnchanged => t.err_password_unchanged.to_string(),
        }
    }
}

/// Trims `input` and checks it holds 1..=`max` characters and no control characters.
fn parse_text(input: &str, max: usize) -> Result<String, FieldError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(FieldError::Required);
    }
    if trimmed.chars().count() > max {
        return Err(FieldError::TooLong(max));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::ControlChars);
    }
    if trimmed.chars().any(is_invisible_or_directional) {
        return Err(FieldError::InvisibleChars);
    }
    Ok(trimmed.to_string())
}

/// Characters that change how the text around them is shown without being seen: the bidi
/// embeddings, overrides, isolates and marks (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
/// U+061C), zero-width spaces and joiners used to hide text (U+200B, U+2060–U+2064, U+FEFF).
/// Zero-width (non-)joiners U+200C/U+200D stay: several scripts and emoji need them.
pub(crate) fn is_invisible_or_directional(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in characters.
            pub const MAX: usize = $max;

            /// Trims and validates the input.
            pub fn parse(input: &str) -> Result<Self, FieldError> {
                parse_text(input, Self::MAX).map(Self)
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

text_type!(
    /// A person's name as shown on screen: a patient, a staff member or a relative.
    PersonName,
    100
);
text_type!(
    /// A ward's name.
    WardName,
    60
);
text_type!(
    /// The bed a patient is in.
    Bed,
    20
);

text_type!(
    /// How a relative is related to the patient ("hija", "son", "friend").
    Relationship,
    60
);

text_type!(
    /// A short reason a person gives (a cancellation, "no visits", an exception, an override).
    Reason,
    200
);

text_type!(
    /// A relative's phone or e-mail, for staff to reach them.
    Contact,
    120
);

text_type!(
    /// A note for staff.
    Note,
    500
);

/// A ward's phone number, for relatives to call; empty when none is given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Longest accepted value, in characters.
    pub const MAX: usize = 30;

    /// Trims and checks the input: empty, or digits (at least three), spaces and `+ - ( ) .`.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let text = input.trim();
        if text.is_empty() {
            return Ok(Self::default());
        }
        if text.chars().count() > Self::MAX {
            return Err(FieldError::TooLong(Self::MAX));
        }
        let allowed = |c: char| c.is_ascii_digit() || " +-().".contains(c);
        let digits = text.chars().filter(char::is_ascii_digit).count();
        if !text.chars().all(allowed) || digits < 3 {
            return Err(FieldError::PhoneInvalid);
        }
        Ok(Self(text.to_string()))
    }

    /// The number as typed (trimmed), or "".
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A whole number typed in a form, within `min..=max`.
pub fn parse_number(input: &str, min: i64, max: i64) -> Result<i64, FieldError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(FieldError::Required);
    }
    match text.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(FieldError::NumberOutOfRange(min, max)),
    }
}

/// A date typed in a form: `2026-12-24` (what `<input type="date">` sends).
pub fn parse_date(input: &str) -> Result<chrono::NaiveDate, FieldError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(FieldError::Required);
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| FieldError::DateInvalid)
}

/// A time of day typed in a form: `16:30` (what `<input type="time">` sends).
pub fn parse_time(input: &str) -> Result<chrono::NaiveTime, FieldError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(FieldError::Required);
    }
    let minutes = hours::parse_clock(text)
        .filter(|m| *m < DAY_MINUTES)
        .ok_or(FieldError::TimeInvalid)?;
    chrono::NaiveTime::from_hms_opt(u32::from(minutes / 60), u32::from(minutes % 60), 0)
        .ok_or(FieldError::TimeInvalid)
}

/// The 6-digit code a relative types after opening the invite link.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessCode(String);

impl std::fmt::Debug for AccessCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessCode(<redacted>)")
    }
}

impl AccessCode {
    /// A fresh uniformly random code.
    pub fn generate() -> Self {
        loop {
            let mut bytes = [0u8; 4];
            getrandom::fill(&mut bytes).expect("the operating system's random source is available");
            let n = u32::from_le_bytes(bytes);
            // Rejection sampling: no digit is more likely than another.
            if n < 4_294_000_000 {
                return Self(format!("{:06}", n % 1_000_000));
            }
        }
    }

    /// What a relative typed: spaces and dashes are ignored, then exactly six digits.
    pub fn parse(input: &str) -> Option<Self> {
        let digits: String = input
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.'))
            .collect();
        (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(Self(digits))
    }

    /// The six digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Grouped for reading aloud and typing: `123 456`.
    pub fn grouped(&self) -> String {
        format!("{} {}", &self.0[..3], &self.0[3..])
    }
}

/// A hospital record number: optional, unique when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordNumber(String);

impl RecordNumber {
    /// Longest accepted value, in characters.
    pub const MAX: usize = 40;

    /// An empty field means "no record number".
    pub fn parse_optional(input: &str) -> Result<Option<Self>, FieldError> {
        if input.trim().is_empty() {
            return Ok(None);
        }
        parse_text(input, Self::MAX).map(|s| Some(Self(s)))
    }

    /// The validated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A staff login name: 3–64 of `a-z 0-9 . _ -`, compared without case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Trims, lowercases and validates the input.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let name = input.trim().to_lowercase();
        let valid_chars = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if name.is_empty() {
            return Err(FieldError::Required);
        }
        if !(3..=64).contains(&name.len()) || !valid_chars {
            return Err(FieldError::UsernameInvalid);
        }
        Ok(Self(name))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A staff member with an active account, as the pages and the calls see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// An administrator set their password: they must choose their own before anything else.
    pub must_change_password: bool,
    /// Sessions signed in before this (Unix seconds) no longer count: the password changed.
    pub password_changed_at: i64,
}

impl StaffMember {
    /// True for administrators.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Manages staff accounts; can also do everything a nurse does.
    Admin,
    /// Registers patients, creates rooms and runs visits.
    Nurse,
}

impl Role {
    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Nurse => "nurse",
        }
    }

    /// Reads the stored value; anything unknown is the least privileged role.
    pub fn from_db(value: &str) -> Role {
        if value == "admin" {
            Role::Admin
        } else {
            Role::Nurse
        }
    }

    /// The role's name in the person's language.
    pub fn label(self, t: &Text) -> &'static str {
        match self {
            Role::Admin => t.role_admin,
            Role::Nurse => t.role_nurse,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(PersonName::parse("  Ana  ").map(|n| n.0), Ok("Ana".into()));
        assert_eq!(PersonName::parse("   "), Err(FieldError::Required));
        assert_eq!(
            PersonName::parse(&"a".repeat(101)),
            Err(FieldError::TooLong(100))
        );
        assert!(PersonName::parse(&"ñ".repeat(100)).is_ok());
        assert_eq!(PersonName::parse("Ana\u{0}"), Err(FieldError::ControlChars));
        assert_eq!(PersonName::parse("An\na"), Err(FieldError::ControlChars));
    }

    #[test]
    fn names_refuse_text_direction_and_invisible_characters() {
        for sneaky in [
            "Ana\u{202E}zeuR",
            "\u{2066}Ana\u{2069}",
            "A\u{200B}na",
            "Ana\u{FEFF}",
            "Ana\u{200F}",
        ] {
            assert_eq!(
                PersonName::parse(sneaky),
                Err(FieldError::InvisibleChars),
                "{sneaky:?}"
            );
        }
        assert!(PersonName::parse("José María Núñez").is_ok());
        assert!(
            PersonName::parse("محمد").is_ok(),
            "right-to-left names themselves are fine"
        );
    }

    #[test]
    fn usernames_are_lowercased_and_restricted() {
        assert_eq!(
            Username::parse(" Ana.Ruiz ").map(|u| u.0),
            Ok("ana.ruiz".into())
        );
        assert_eq!(Username::parse("ab"), Err(FieldError::UsernameInvalid));
        assert_eq!(
            Username::parse("ana ruiz"),
            Err(FieldError::UsernameInvalid)
        );
    }

    #[test]
    fn access_codes_are_six_digits_and_forgive_spacing() {
        let code = AccessCode::generate();
        assert_eq!(code.as_str().len(), 6);
        assert_eq!(AccessCode::parse(&code.grouped()), Some(code));
        assert_eq!(
            AccessCode::parse(" 012-345 ").map(|c| c.0),
            Some("012345".into())
        );
        assert_eq!(AccessCode::parse("12345"), None);
        assert_eq!(AccessCode::parse("12345a"), None);
        assert_eq!(AccessCode::parse("１２３４５６"), None, "only ASCII digits");
    }

    #[test]
    fn an_empty_record_number_is_none() {
        assert_eq!(RecordNumber::parse_optional("  "), Ok(None));
        assert!(
            RecordNumber::parse_optional("HC-1")
                .unwrap_or_default()
                .is_some()
        );
    }
}

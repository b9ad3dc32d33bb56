//! The waiting room and the bedside device: how a relative was let in, the short messages a nurse
//! sends to someone waiting, why they may be sent away, and how the bedside answers.

use crate::i18n::Text;

/// How a relative was let into a visit's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionHow {
    /// A nurse pressed Admit (or Admit all) on the desk or the room page.
    Nurse,
    /// The nurse let them in ahead, when starting the visit ("let them in as they arrive").
    OnArrival,
    /// The ward admits by itself at the visit's start once the bedside device is ready.
    Auto,
}

impl AdmissionHow {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdmissionHow::Nurse => "nurse",
            AdmissionHow::OnArrival => "on-arrival",
            AdmissionHow::Auto => "auto",
        }
    }
}

/// The short messages a nurse can send to someone in the waiting room, shown there in their
/// language. The key is what travels; each page has the texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NotNowMessage {
    /// "The nurse is with the patient: a few more minutes, please."
    FewMinutes,
    /// "The patient is resting. We will let you in as soon as they wake."
    Resting,
    /// "The patient is being cared for. Please wait, we have not forgotten you."
    BeingCaredFor,
    /// "We are preparing the patient's tablet. It won't be long."
    PreparingDevice,
}

impl NotNowMessage {
    /// Every message, in the order the nurse's list shows them.
    pub const ALL: [NotNowMessage; 4] = [
        NotNowMessage::FewMinutes,
        NotNowMessage::Resting,
        NotNowMessage::BeingCaredFor,
        NotNowMessage::PreparingDevice,
    ];

    /// The key sent to the waiting page and written in the audit row.
    pub fn key(self) -> &'static str {
        match self {
            NotNowMessage::FewMinutes => "few-minutes",
            NotNowMessage::Resting => "resting",
            NotNowMessage::BeingCaredFor => "being-cared-for",
            NotNowMessage::PreparingDevice => "preparing-device",
        }
    }

    /// Reads a key from a form.
    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.key() == key)
    }

    /// The message in a language.
    pub fn text(self, t: &Text) -> &'static str {
        match self {
            NotNowMessage::FewMinutes => t.not_now_few_minutes,
            NotNowMessage::Resting => t.not_now_resting,
            NotNowMessage::BeingCaredFor => t.not_now_being_cared_for,
            NotNowMessage::PreparingDevice => t.not_now_preparing_device,
        }
    }
}

/// Why a nurse sends someone in the waiting room away (their invite for this visit ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SendAwayReason {
    /// "The visit cannot take place today. The ward will contact you."
    NotToday,
    /// "The patient cannot take visits right now."
    PatientUnavailable,
    /// "This invitation is not for you: only the person named on it may visit."
    NotThePerson,
}

impl SendAwayReason {
    /// Every reason, in the order the nurse's list shows them.
    pub const ALL: [SendAwayReason; 3] = [
        SendAwayReason::NotToday,
        SendAwayReason::PatientUnavailable,
        SendAwayReason::NotThePerson,
    ];

    /// The key sent to the waiting page and written in the audit row.
    pub fn key(self) -> &'static str {
        match self {
            SendAwayReason::NotToday => "not-today",
            SendAwayReason::PatientUnavailable => "patient-unavailable",
            SendAwayReason::NotThePerson => "not-the-person",
        }
    }

    /// Reads a key from a form.
    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.key() == key)
    }

    /// The message in a language.
    pub fn text(self, t: &Text) -> &'static str {
        match self {
            SendAwayReason::NotToday => t.sent_away_not_today,
            SendAwayReason::PatientUnavailable => t.sent_away_patient_unavailable,
            SendAwayReason::NotThePerson => t.sent_away_not_the_person,
        }
    }
}

/// How the bedside device answers a visit that was let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BedsideAnswer {
    /// A chime and a 10-second countdown, then it answers by itself.
    Auto,
    /// A chime and a big Answer button: the patient (or a nurse) taps.
    Tap,
}

impl BedsideAnswer {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            BedsideAnswer::Auto => "auto",
            BedsideAnswer::Tap => "tap",
        }
    }

    /// Reads a stored or posted name.
    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "auto" => Some(BedsideAnswer::Auto),
            "tap" => Some(BedsideAnswer::Tap),
            _ => None,
        }
    }
}

/// Why a bedside device stopped being a bed's device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpairReason {
    /// A nurse unpaired it from the patient's page.
    Nurse,
    /// The patient was discharged.
    Discharge,
    /// The patient moved to another ward.
    Transfer,
    /// Not seen for longer than `--device-unseen-days`.
    Unseen,
    /// Another device was paired to the same bed.
    Replaced,
}

impl UnpairReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnpairReason::Nurse => "nurse",
            UnpairReason::Discharge => "discharge",
            UnpairReason::Transfer => "transfer",
            UnpairReason::Unseen => "unseen",
            UnpairReason::Replaced => "replaced",
        }
    }
}

/// What a relative's device check found, as the waiting page reports it and the desk shows it.
/// Everything here comes from the relative's browser: it informs the nurse, it decides nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeviceCheck {
    pub camera: bool,
    pub microphone: bool,
    /// "Chrome 131 on Android", at most [`DeviceCheck::MAX_BROWSER`] characters kept.
    pub browser: String,
    /// How long fetching a call ticket took, in milliseconds.
    pub rtt_ms: Option<u32>,
}

impl DeviceCheck {
    /// The longest browser description kept.
    pub const MAX_BROWSER: usize = 60;
    /// Round trips above this are shown as a slow connection.
    pub const SLOW_MS: u32 = 800;

    /// The check as reported, with the browser text cut short and stripped of anything that is
    /// not plain printable text.
    pub fn cleaned(mut self) -> Self {
        self.browser = self
            .browser
            .chars()
            .filter(|c| !c.is_control() && !crate::domain::is_invisible_or_directional(*c))
            .take(Self::MAX_BROWSER)
            .collect::<String>()
            .trim()
            .to_string();
        self.rtt_ms = self.rtt_ms.map(|ms| ms.min(60_000));
        self
    }

    /// Whether the server answered quickly.
    pub fn fast(&self) -> Option<bool> {
        self.rtt_ms.map(|ms| ms <= Self::SLOW_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_reads_back_and_unknown_keys_do_not() {
        for m in NotNowMessage::ALL {
            assert_eq!(NotNowMessage::parse(m.key()), Some(m));
        }
        for r in SendAwayReason::ALL {
            assert_eq!(SendAwayReason::parse(r.key()), Some(r));
        }
        assert_eq!(NotNowMessage::parse("<script>"), None);
        assert_eq!(BedsideAnswer::parse("tap"), Some(BedsideAnswer::Tap));
        assert_eq!(BedsideAnswer::parse("x"), None);
    }

    #[test]
    fn a_reported_browser_is_cut_and_cleaned() {
        let check = DeviceCheck {
            browser: format!("Chrome\u{202e}\n{}", "x".repeat(100)),
            rtt_ms: Some(99_999),
            ..DeviceCheck::default()
        }
        .cleaned();
        assert!(check.browser.starts_with("Chromex"));
        assert_eq!(check.browser.chars().count(), DeviceCheck::MAX_BROWSER);
        assert_eq!(check.rtt_ms, Some(60_000));
        assert_eq!(check.fast(), Some(false));
    }
}

//! The hospital's time zone. Times are stored as UTC seconds and shown in the hospital's local
//! time, which is the machine's zone unless `--time-zone` names another (an IANA name such as
//! `Europe/Madrid`, from the tz database bundled in the binary, so a box without tzdata works).

use chrono::{DateTime, NaiveDateTime, Utc};

/// Where "local time" is for the people using Visitas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HospitalZone {
    /// The machine's own zone.
    #[default]
    Machine,
    /// A named IANA zone.
    Named(chrono_tz::Tz),
}

impl HospitalZone {
    /// Reads an IANA zone name (`Europe/Madrid`); `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        name.trim()
            .parse::<chrono_tz::Tz>()
            .ok()
            .map(HospitalZone::Named)
    }

    /// A UTC instant as the wall-clock time in this zone.
    pub fn local(self, utc: DateTime<Utc>) -> NaiveDateTime {
        match self {
            HospitalZone::Machine => utc.with_timezone(&chrono::Local).naive_local(),
            HospitalZone::Named(zone) => utc.with_timezone(&zone).naive_local(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 time")
    }

    #[test]
    fn named_zones_follow_their_daylight_saving_rules() {
        let madrid = HospitalZone::parse("Europe/Madrid").expect("a known zone");

        // Winter (UTC+1), the night clocks go forward (2026-03-29, 02:00 → 03:00) and summer (UTC+2).
        assert_eq!(
            madrid.local(at("2026-01-15T10:00:00Z")).to_string(),
            "2026-01-15 11:00:00"
        );
        assert_eq!(
            madrid.local(at("2026-03-29T00:59:00Z")).to_string(),
            "2026-03-29 01:59:00"
        );
        assert_eq!(
            madrid.local(at("2026-03-29T01:00:00Z")).to_string(),
            "2026-03-29 03:00:00"
        );
        // The night clocks go back (2026-10-25, 03:00 → 02:00): 02:30 happens twice.
        assert_eq!(
            madrid.local(at("2026-10-25T00:30:00Z")).to_string(),
            "2026-10-25 02:30:00"
        );
        assert_eq!(
            madrid.local(at("2026-10-25T01:30:00Z")).to_string(),
            "2026-10-25 02:30:00"
        );
    }

    #[test]
    fn only_iana_names_are_zones() {
        assert!(HospitalZone::parse("America/Mexico_City").is_some());
        assert_eq!(HospitalZone::parse("Madrid"), None);
        assert_eq!(HospitalZone::parse("UTC+1"), None);
    }
}

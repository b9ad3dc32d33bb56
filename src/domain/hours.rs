//! Visiting hours: windows of wall-clock time per weekday, exceptions by date, and turning them
//! into UTC instants in the hospital's zone on any day, including the two days a year the clocks
//! change (a window is always the local times it says, so such a day's window is an hour shorter
//! or longer in real time, and nothing booked in it moves).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};

use super::{FieldError, HospitalZone};

/// Minutes in a day.
pub const DAY_MINUTES: u16 = 24 * 60;

/// One window of a day, in minutes after local midnight. `end` may pass 1440: the window
/// crosses midnight and ends the next morning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    pub start: u16,
    pub end: u16,
}

impl Window {
    /// `11:00-13:00`; `22:00-02:00` crosses midnight; `00:00-24:00` is the whole day.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let (from, to) = input
            .split_once(['-', '–'])
            .ok_or(FieldError::HoursInvalid)?;
        let start = parse_clock(from).ok_or(FieldError::HoursInvalid)?;
        let end = parse_clock(to).ok_or(FieldError::HoursInvalid)?;
        if start >= DAY_MINUTES {
            return Err(FieldError::HoursInvalid);
        }
        let end = if end <= start { end + DAY_MINUTES } else { end };
        if end - start > DAY_MINUTES {
            return Err(FieldError::HoursInvalid);
        }
        Ok(Window { start, end })
    }

    /// `11:00–13:00`.
    pub fn label(&self) -> String {
        format!("{}–{}", clock(self.start), clock(self.end))
    }
}

/// `HH:MM` (24 h) as minutes after midnight; `24:00` is allowed as an end.
pub fn parse_clock(input: &str) -> Option<u16> {
    let (h, m) = input.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.trim().parse().ok()?, m.trim().parse().ok()?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) || input.trim().len() > 5 {
        return None;
    }
    Some(h * 60 + m)
}

/// Minutes after midnight as `HH:MM` (a window's end past midnight shows the next day's time).
pub fn clock(minutes: u16) -> String {
    let m = if minutes > DAY_MINUTES {
        minutes - DAY_MINUTES
    } else {
        minutes
    };
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// A day's windows as typed: `11:00-13:00, 17:00-20:00`; empty means closed. Sorted; windows
/// may not overlap.
pub fn parse_day(input: &str) -> Result<Vec<Window>, FieldError> {
    if input.chars().count() > 200 {
        return Err(FieldError::TooLong(200));
    }
    let mut windows = input
        .split([',', ';'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(Window::parse)
        .collect::<Result<Vec<_>, _>>()?;
    windows.sort();
    if windows.windows(2).any(|pair| pair[1].start < pair[0].end) {
        return Err(FieldError::HoursOverlap);
    }
    if windows.len() > 6 {
        return Err(FieldError::HoursInvalid);
    }
    Ok(windows)
}

/// A day's windows as the form shows them.
pub fn day_label(windows: &[Window]) -> String {
    windows
        .iter()
        .map(|w| format!("{}-{}", clock(w.start), clock(w.end)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A ward's hours changed or closed for a range of dates (both included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateException {
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// Empty: the ward is closed to visits on those days.
    pub windows: Vec<Window>,
}

/// A ward's weekly visiting hours with its exceptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VisitingHours {
    /// Index 0 is Monday.
    pub week: [Vec<Window>; 7],
    pub exceptions: Vec<DateException>,
}

/// A span of real time, in UTC seconds, `start` included and `end` excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

impl Span {
    /// True when the two spans share any time.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl VisitingHours {
    /// The windows of one local date: an exception's when one covers it, else its weekday's.
    pub fn windows_on(&self, date: NaiveDate) -> &[Window] {
        // The latest exception wins where two cover the same date.
        if let Some(exception) = self
            .exceptions
            .iter()
            .rev()
            .find(|e| e.first <= date && date <= e.last)
        {
            return &exception.windows;
        }
        &self.week[date.weekday().num_days_from_monday() as usize]
    }

    /// The visiting windows of `dates` in real time, touching ones merged.
    pub fn spans(&self, zone: HospitalZone, dates: impl Iterator<Item = NaiveDate>) -> Vec<Span> {
        let mut spans: Vec<Span> = dates
            .flat_map(|date| {
                self.windows_on(date)
                    .iter()
                    .map(move |w| window_span(zone, date, w))
                    .collect::<Vec<_>>()
            })
            .collect();
        spans.sort_by_key(|s| s.start);
        let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
        for span in spans {
            match merged.last_mut() {
                Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
                _ => merged.push(span),
            }
        }
        merged
    }

    /// True when the whole of `visit` lies inside one visiting window.
    pub fn allows(&self, zone: HospitalZone, visit: Span) -> bool {
        let Some(first) = zone.local_date(visit.start) else {
            return false;
        };
        // A window that started the day before may still be open (it crosses midnight).
        let dates = (-1..=2).map(|d| first + Duration::days(d));
        self.spans(zone, dates)
            .iter()
            .any(|w| w.start <= visit.start && visit.end <= w.end)
    }
}

/// A window of a date in real time. A boundary that falls in the hour the clocks skip moves to
/// when the clocks resume; one that happens twice is its first occurrence for a start and its
/// second for an end, so the window is as long as the wall clock says.
fn window_span(zone: HospitalZone, date: NaiveDate, window: &Window) -> Span {
    let at = |minutes: u16| date.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(minutes));
    Span {
        start: zone.instant(at(window.start), Occurrence::First),
        end: zone.instant(at(window.end), Occurrence::Last),
    }
}

/// Which of two instants a wall-clock time that happens twice means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occurrence {
    First,
    Last,
}

impl HospitalZone {
    /// The UTC seconds of a local time, or `None` when the clocks skip it (the night they go
    /// forward). A time that happens twice is its first occurrence.
    pub fn to_utc(self, local: NaiveDateTime) -> Option<i64> {
        self.resolve(local, Occurrence::First)
    }

    fn resolve(self, local: NaiveDateTime, which: Occurrence) -> Option<i64> {
        use chrono::{LocalResult, TimeZone};
        let result = match self {
            HospitalZone::Machine => match chrono::Local.from_local_datetime(&local) {
                LocalResult::Single(t) => LocalResult::Single(t.timestamp()),
                LocalResult::Ambiguous(a, b) => {
                    LocalResult::Ambiguous(a.timestamp(), b.timestamp())
                }
                LocalResult::None => LocalResult::None,
            },
            HospitalZone::Named(tz) => match tz.from_local_datetime(&local) {
                LocalResult::Single(t) => LocalResult::Single(t.timestamp()),
                LocalResult::Ambiguous(a, b) => {
                    LocalResult::Ambiguous(a.timestamp(), b.timestamp())
                }
                LocalResult::None => LocalResult::None,
            },
        };
        match result {
            LocalResult::Single(t) => Some(t),
            LocalResult::Ambiguous(a, b) => Some(match which {
                Occurrence::First => a.min(b),
                Occurrence::Last => a.max(b),
            }),
            LocalResult::None => None,
        }
    }

    /// Like [`HospitalZone::to_utc`], but a skipped time becomes the moment the clocks resume.
    pub fn instant(self, local: NaiveDateTime, which: Occurrence) -> i64 {
        if let Some(t) = self.resolve(local, which) {
            return t;
        }
        // No zone skips more than a few hours: find the first minute that exists.
        (1..=6 * 60)
            .find_map(|m| self.resolve(local + Duration::minutes(m), Occurrence::First))
            .unwrap_or_else(|| local.and_utc().timestamp())
    }

    /// The local calendar date at `utc_secs`.
    pub fn local_date(self, utc_secs: i64) -> Option<NaiveDate> {
        chrono::DateTime::from_timestamp(utc_secs, 0).map(|t| self.local(t).date())
    }

    /// The local wall-clock time at `utc_secs`.
    pub fn local_at(self, utc_secs: i64) -> Option<NaiveDateTime> {
        chrono::DateTime::from_timestamp(utc_secs, 0).map(|t| self.local(t))
    }

    /// The real-time span of a local date, from its midnight to the next (23 or 25 hours on the
    /// days the clocks change).
    pub fn day_span(self, date: NaiveDate) -> Span {
        let midnight = |d: NaiveDate| self.instant(d.and_time(NaiveTime::MIN), Occurrence::First);
        Span {
            start: midnight(date),
            end: midnight(date + Duration::days(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn madrid() -> HospitalZone {
        HospitalZone::parse("Europe/Madrid").expect("a known zone")
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn utc(text: &str) -> i64 {
        text.parse::<chrono::DateTime<chrono::Utc>>()
            .expect("an RFC 3339 time")
            .timestamp()
    }

    fn every_day(windows: &str) -> VisitingHours {
        let day = parse_day(windows).expect("valid hours");
        VisitingHours {
            week: std::array::from_fn(|_| day.clone()),
            exceptions: Vec::new(),
        }
    }

    #[test]
    fn days_are_read_as_nurses_write_them() {
        assert_eq!(
            parse_day(" 17:00-20:00, 11:00 - 13:00 "),
            Ok(vec![
                Window {
                    start: 660,
                    end: 780
                },
                Window {
                    start: 1020,
                    end: 1200
                }
            ])
        );
        assert_eq!(parse_day(""), Ok(vec![]));
        assert_eq!(
            parse_day("22:00-02:00"),
            Ok(vec![Window {
                start: 1320,
                end: 1560
            }])
        );
        assert_eq!(
            parse_day("00:00-24:00"),
            Ok(vec![Window {
                start: 0,
                end: 1440
            }])
        );
        assert_eq!(parse_day("11-13"), Err(FieldError::HoursInvalid));
        assert_eq!(parse_day("25:00-26:00"), Err(FieldError::HoursInvalid));
        assert_eq!(parse_day("11:60-13:00"), Err(FieldError::HoursInvalid));
        assert_eq!(
            parse_day("11:00-13:00, 12:00-14:00"),
            Err(FieldError::HoursOverlap)
        );
        assert_eq!(day_label(&parse_day("22:00-02:00").unwrap()), "22:00-02:00");
    }

    #[test]
    fn a_visit_fits_only_inside_one_window() {
        let hours = every_day("11:00-13:00, 17:00-20:00");
        let zone = madrid();
        // 2026-01-15, winter: 11:00 in Madrid is 10:00 UTC.
        let inside = Span {
            start: utc("2026-01-15T10:00:00Z"),
            end: utc("2026-01-15T10:30:00Z"),
        };
        let across_the_gap = Span {
            start: utc("2026-01-15T11:45:00Z"),
            end: utc("2026-01-15T12:15:00Z"),
        };
        assert!(hours.allows(zone, inside));
        assert!(!hours.allows(zone, across_the_gap));
    }

    #[test]
    fn a_window_across_midnight_holds_visits_on_both_sides() {
        let hours = every_day("22:00-02:00");
        let zone = madrid();
        let late = Span {
            start: utc("2026-01-15T22:30:00Z"), // 23:30 local
            end: utc("2026-01-16T00:30:00Z"),   // 01:30 local the next day
        };
        assert!(hours.allows(zone, late));
        let too_late = Span {
            start: utc("2026-01-16T00:30:00Z"),
            end: utc("2026-01-16T01:30:00Z"), // 02:30 local
        };
        assert!(!hours.allows(zone, too_late));
    }

    #[test]
    fn windows_keep_their_wall_clock_times_on_the_days_clocks_change() {
        let hours = every_day("01:00-04:00");
        let zone = madrid();
        // 2026-03-29: 02:00 becomes 03:00, so 01:00-04:00 local is two hours of real time.
        let spring = hours.spans(zone, std::iter::once(date("2026-03-29")));
        assert_eq!(
            spring,
            vec![Span {
                start: utc("2026-03-29T00:00:00Z"),
                end: utc("2026-03-29T02:00:00Z"),
            }]
        );
        // 2026-10-25: 03:00 becomes 02:00 again, so the same window is four hours long.
        let autumn = hours.spans(zone, std::iter::once(date("2026-10-25")));
        assert_eq!(
            autumn,
            vec![Span {
                start: utc("2026-10-24T23:00:00Z"),
                end: utc("2026-10-25T03:00:00Z"),
            }]
        );
        assert_eq!(
            zone.to_utc(date("2026-03-29").and_hms_opt(2, 30, 0).unwrap()),
            None
        );
        assert_eq!(
            zone.day_span(date("2026-03-29")).end - zone.day_span(date("2026-03-29")).start,
            23 * 3600
        );
        assert_eq!(
            zone.day_span(date("2026-10-25")).end - zone.day_span(date("2026-10-25")).start,
            25 * 3600
        );
    }

    #[test]
    fn an_exception_replaces_the_weekday_for_its_dates() {
        let mut hours = every_day("11:00-20:00");
        hours.exceptions.push(DateException {
            first: date("2026-12-24"),
            last: date("2026-12-25"),
            windows: vec![],
        });
        assert!(hours.windows_on(date("2026-12-25")).is_empty());
        assert_eq!(hours.windows_on(date("2026-12-26")).len(), 1);
    }
}

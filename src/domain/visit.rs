//! Scheduled visits: why one is refused, why one is booked outside visiting hours, how a repeat
//! spreads over days, and the state a visit is in on the desk.

use chrono::{Datelike, Duration, NaiveDate};

use super::hours::Span;
use crate::i18n::Text;

/// Why a visit is booked outside the ward's visiting hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideReason {
    EndOfLife,
    Clinical,
    Other,
}

impl OverrideReason {
    /// Every reason, in the order the form lists them.
    pub const ALL: [OverrideReason; 3] = [
        OverrideReason::EndOfLife,
        OverrideReason::Clinical,
        OverrideReason::Other,
    ];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideReason::EndOfLife => "end-of-life",
            OverrideReason::Clinical => "clinical",
            OverrideReason::Other => "other",
        }
    }

    /// Reads the stored value.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }

    /// The reason in the person's language.
    pub fn label(self, t: &Text) -> &'static str {
        match self {
            OverrideReason::EndOfLife => t.override_end_of_life,
            OverrideReason::Clinical => t.override_clinical,
            OverrideReason::Other => t.override_other,
        }
    }
}

/// How a visit turned out, once it is over (the visit log's filter and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitOutcome {
    /// Relatives came and the call ended normally.
    Completed,
    /// No relative came.
    Missed,
    /// Cancelled before it ran.
    Cancelled,
    /// Someone's connection was lost for good (their stay ended as "connection lost").
    Network,
    /// A relative was removed from it, or their invite revoked.
    Revoked,
}

impl VisitOutcome {
    /// Every outcome, in the order the filter lists them.
    pub const ALL: [VisitOutcome; 5] = [
        VisitOutcome::Completed,
        VisitOutcome::Missed,
        VisitOutcome::Cancelled,
        VisitOutcome::Network,
        VisitOutcome::Revoked,
    ];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            VisitOutcome::Completed => "completed",
            VisitOutcome::Missed => "missed",
            VisitOutcome::Cancelled => "cancelled",
            VisitOutcome::Network => "network",
            VisitOutcome::Revoked => "revoked",
        }
    }

    /// Reads the stored value.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == value)
    }

    /// The outcome in the person's language.
    pub fn label(self, t: &Text) -> &'static str {
        match self {
            VisitOutcome::Completed => t.outcome_completed,
            VisitOutcome::Missed => t.outcome_missed,
            VisitOutcome::Cancelled => t.outcome_cancelled,
            VisitOutcome::Network => t.outcome_network,
            VisitOutcome::Revoked => t.outcome_revoked,
        }
    }
}

/// Why the server refused to book (or move) a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Outside the ward's visiting hours, and no override was chosen.
    OutsideHours,
    /// The patient has another visit then (its start).
    Overlap { other_start: i64 },
    /// The ward already runs its most video visits at once then.
    WardFull { max: i64 },
    /// The start has passed.
    InPast,
    /// The patient has been discharged.
    Discharged,
    /// The patient takes no visits for now (the reason given).
    NoVisits(String),
    /// A relative's authorisation was withdrawn (their name).
    RelativeWithdrawn(String),
    /// No relative was chosen.
    NoRelatives,
    /// More relatives than the room holds besides the patient.
    TooManyRelatives { max: usize },
    /// Longer than the ward allows.
    TooLong { max: i64 },
    /// The local time does not exist that day (the clocks skip it).
    NonexistentTime,
    /// The visit is over or cancelled and can no longer change.
    NotChangeable,
}

impl Refusal {
    /// The message shown to the nurse. `zone_time` writes an instant in local time.
    pub fn message(&self, t: &Text, zone_time: impl Fn(i64) -> String) -> String {
        match self {
            Refusal::OutsideHours => t.refuse_outside_hours.to_string(),
            Refusal::Overlap { other_start } => {
                t.refuse_overlap.replace("{time}", &zone_time(*other_start))
            }
            Refusal::WardFull { max } => t.refuse_ward_full.of(*max),
            Refusal::InPast => t.refuse_in_past.to_string(),
            Refusal::Discharged => t.refuse_discharged.to_string(),
            Refusal::NoVisits(reason) => t.refuse_no_visits.replace("{reason}", reason),
            Refusal::RelativeWithdrawn(name) => t.refuse_withdrawn.replace("{name}", name),
            Refusal::NoRelatives => t.refuse_no_relatives.to_string(),
            Refusal::TooManyRelatives { max } => t.refuse_too_many_relatives.of(max),
            Refusal::TooLong { max } => t.refuse_too_long.of(max),
            Refusal::NonexistentTime => t.refuse_nonexistent_time.to_string(),
            Refusal::NotChangeable => t.refuse_not_changeable.to_string(),
        }
    }
}

/// The most visits running at the same moment within `span`, counting one more that takes all
/// of `span` (the one being booked).
pub fn peak_with_one_more(span: Span, others: &[Span]) -> i64 {
    // Sweep the starts and ends inside the span; an end at the same second as a start frees
    // its place first.
    let mut events: Vec<(i64, i64)> = Vec::with_capacity(others.len() * 2);
    let mut running = 1;
    for other in others.iter().filter(|o| o.overlaps(&span)) {
        if other.start <= span.start {
            running += 1;
        } else {
            events.push((other.start, 1));
        }
        if other.end < span.end {
            events.push((other.end, -1));
        }
    }
    events.sort();
    let mut peak = running;
    for (_, change) in events {
        running += change;
        peak = peak.max(running);
    }
    peak
}

/// Which days a repeat books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repeat {
    /// Only the first day.
    Once,
    /// Every day until `until` (included).
    Daily { until: NaiveDate },
    /// The chosen weekdays (index 0 = Monday) until `until`.
    Weekdays { days: [bool; 7], until: NaiveDate },
}

/// The most days one repeat may book.
pub const MAX_REPEAT_DAYS: usize = 92;

impl Repeat {
    /// The dates booked, starting at `first` (always included).
    pub fn dates(&self, first: NaiveDate) -> Vec<NaiveDate> {
        let (until, keep): (NaiveDate, Box<dyn Fn(NaiveDate) -> bool>) = match self {
            Repeat::Once => return vec![first],
            Repeat::Daily { until } => (*until, Box::new(|_| true)),
            Repeat::Weekdays { days, until } => {
                let days = *days;
                (
                    *until,
                    Box::new(move |d: NaiveDate| days[d.weekday().num_days_from_monday() as usize]),
                )
            }
        };
        let mut dates = vec![first];
        let mut day = first + Duration::days(1);
        while day <= until && dates.len() < MAX_REPEAT_DAYS {
            if keep(day) {
                dates.push(day);
            }
            day += Duration::days(1);
        }
        dates
    }
}

/// Where a visit stands, as the desk shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitState {
    /// Not started; nobody has opened the link.
    Upcoming,
    /// A relative has opened the link (or passed the code) and the call has not started.
    LinkOpened,
    /// A relative is in the call now.
    InCall,
    /// Over, and someone came.
    Ended,
    /// Over, and no relative came.
    Missed,
    /// Cancelled by a nurse.
    Cancelled,
}

impl VisitState {
    /// A short stable name, for templates, scripts and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            VisitState::Upcoming => "upcoming",
            VisitState::LinkOpened => "link-opened",
            VisitState::InCall => "in-call",
            VisitState::Ended => "ended",
            VisitState::Missed => "missed",
            VisitState::Cancelled => "cancelled",
        }
    }

    /// The state in the nurse's language.
    pub fn label(self, t: &Text) -> &'static str {
        match self {
            VisitState::Upcoming => t.visit_state_upcoming,
            VisitState::LinkOpened => t.visit_state_link_opened,
            VisitState::InCall => t.visit_state_in_call,
            VisitState::Ended => t.visit_state_ended,
            VisitState::Missed => t.visit_state_missed,
            VisitState::Cancelled => t.visit_state_cancelled,
        }
    }
}

/// What decides a visit's state.
#[derive(Debug, Clone, Copy)]
pub struct VisitFacts {
    pub now: i64,
    /// When it ends: the scheduled end, or when a nurse ended it.
    pub ends_at: i64,
    pub cancelled: bool,
    pub relative_in_call: bool,
    pub relative_came: bool,
    pub link_opened: bool,
}

impl VisitFacts {
    /// The state these facts make.
    pub fn state(&self) -> VisitState {
        if self.cancelled {
            VisitState::Cancelled
        } else if self.relative_in_call {
            VisitState::InCall
        } else if self.now >= self.ends_at {
            if self.relative_came {
                VisitState::Ended
            } else {
                VisitState::Missed
            }
        } else if self.relative_came {
            // Came and left, and the visit's time is not over: they may come back.
            VisitState::Ended
        } else if self.link_opened {
            VisitState::LinkOpened
        } else {
            VisitState::Upcoming
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: i64, end: i64) -> Span {
        Span { start, end }
    }

    #[test]
    fn the_peak_counts_only_visits_running_together() {
        // Two visits that do not overlap each other count once each.
        let others = [span(0, 10), span(20, 30)];
        assert_eq!(peak_with_one_more(span(0, 30), &others), 2);
        // Two that overlap each other and the new one count together.
        let others = [span(0, 30), span(5, 25)];
        assert_eq!(peak_with_one_more(span(10, 20), &others), 3);
        // One that ends as the new one starts does not count.
        assert_eq!(peak_with_one_more(span(10, 20), &[span(0, 10)]), 1);
    }

    #[test]
    fn repeats_book_the_chosen_days_until_the_last() {
        let first: NaiveDate = "2026-12-07".parse().unwrap(); // a Monday
        let until: NaiveDate = "2026-12-20".parse().unwrap();
        assert_eq!(Repeat::Daily { until }.dates(first).len(), 14);
        let mut days = [false; 7];
        days[0] = true; // Monday
        days[3] = true; // Thursday
        let dates = Repeat::Weekdays { days, until }.dates(first);
        let shown: Vec<String> = dates.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["2026-12-07", "2026-12-10", "2026-12-14", "2026-12-17"]
        );
        assert_eq!(Repeat::Once.dates(first), vec![first]);
    }

    #[test]
    fn a_visit_nobody_came_to_is_missed_once_over() {
        let facts = VisitFacts {
            now: 100,
            ends_at: 50,
            cancelled: false,
            relative_in_call: false,
            relative_came: false,
            link_opened: true,
        };
        assert_eq!(facts.state(), VisitState::Missed);
        let came = VisitFacts {
            relative_came: true,
            ..facts
        };
        assert_eq!(came.state(), VisitState::Ended);
    }
}

//! The site's video budget (`--site-video-kbps`): how much video bitrate each running call may
//! send. Calls are a mesh, so a call of `n` people sends `n·(n−1)` video streams; the budget is
//! shared fairly between the streams of all calls, each capped at `--max-video-kbps`, never below
//! `--video-floor-kbps`. When one more call would push the share below the floor, that call (the
//! latest to start) runs audio-only instead; it gets video back when others end.

use std::collections::HashMap;

/// One running call, as the budget sees it.
#[derive(Debug, Clone)]
pub struct Call {
    pub room_id: String,
    /// When it started, in registry order: the earlier calls keep their video.
    pub order: u64,
    pub participants: usize,
}

/// Each call's cap, and the state of the site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Room id → kbit/s each of its video senders may send; 0: audio-only.
    pub caps: HashMap<String, u32>,
    pub load: SiteLoad,
}

/// What the desk shows about the budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiteLoad {
    /// The budget, when one is set.
    pub budget_kbps: Option<u32>,
    /// The cap every call with video shares now, when the budget lowers it below the maximum.
    pub share_kbps: Option<u32>,
    /// Calls running audio-only because the budget is spent.
    pub audio_only_calls: usize,
}

impl SiteLoad {
    /// True when the budget holds calls back: caps lowered to the floor, or calls audio-only.
    pub fn at_limit(&self, floor_kbps: u32) -> bool {
        self.audio_only_calls > 0 || self.share_kbps.is_some_and(|share| share <= floor_kbps)
    }
}

fn streams(participants: usize) -> u64 {
    let n = participants as u64;
    n * n.saturating_sub(1)
}

/// The caps for these calls.
pub fn plan(calls: &[Call], budget_kbps: Option<u32>, floor_kbps: u32, max_kbps: u32) -> Plan {
    let Some(budget) = budget_kbps else {
        return Plan {
            caps: calls
                .iter()
                .map(|c| (c.room_id.clone(), max_kbps))
                .collect(),
            load: SiteLoad::default(),
        };
    };
    let mut ordered: Vec<&Call> = calls.iter().collect();
    ordered.sort_by_key(|c| c.order);
    let mut with_video = Vec::new();
    let mut audio_only = Vec::new();
    let mut total: u64 = 0;
    for call in ordered {
        let s = streams(call.participants);
        if s == 0 || (total + s) * u64::from(floor_kbps) <= u64::from(budget) {
            total += s;
            with_video.push(call);
        } else {
            audio_only.push(call);
        }
    }
    let share = match total {
        0 => max_kbps,
        _ => u32::try_from(u64::from(budget) / total)
            .unwrap_or(u32::MAX)
            .min(max_kbps),
    };
    let mut caps: HashMap<String, u32> = with_video
        .iter()
        .map(|c| (c.room_id.clone(), share))
        .collect();
    caps.extend(audio_only.iter().map(|c| (c.room_id.clone(), 0)));
    Plan {
        caps,
        load: SiteLoad {
            budget_kbps: Some(budget),
            share_kbps: (share < max_kbps).then_some(share),
            audio_only_calls: audio_only.len(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(room: &str, order: u64, participants: usize) -> Call {
        Call {
            room_id: room.into(),
            order,
            participants,
        }
    }

    #[test]
    fn without_a_budget_every_call_gets_the_maximum() {
        let plan = plan(&[call("a", 1, 2), call("b", 2, 4)], None, 150, 500);
        assert_eq!(plan.caps["a"], 500);
        assert_eq!(plan.caps["b"], 500);
        assert!(!plan.load.at_limit(150));
    }

    #[test]
    fn calls_share_the_budget_fairly_down_to_the_floor_then_new_ones_are_audio_only() {
        // 600 kbit/s: one call of two (2 streams) gets 300 each.
        let one = plan(&[call("a", 1, 2)], Some(600), 150, 500);
        assert_eq!(one.caps["a"], 300);
        assert!(!one.load.at_limit(150));

        // A second call: 4 streams share 600, 150 each: the floor.
        let two = plan(&[call("a", 1, 2), call("b", 2, 2)], Some(600), 150, 500);
        assert_eq!((two.caps["a"], two.caps["b"]), (150, 150));
        assert!(two.load.at_limit(150));

        // A third would need 6 × 150 = 900: it runs audio-only; the first two keep theirs.
        let three = plan(
            &[call("c", 3, 2), call("a", 1, 2), call("b", 2, 2)],
            Some(600),
            150,
            500,
        );
        assert_eq!(
            (three.caps["a"], three.caps["b"], three.caps["c"]),
            (150, 150, 0)
        );
        assert_eq!(three.load.audio_only_calls, 1);
    }

    #[test]
    fn a_call_of_three_counts_six_streams_and_someone_alone_sends_nothing() {
        let plan = plan(&[call("a", 1, 3), call("b", 2, 1)], Some(1200), 150, 500);
        assert_eq!(plan.caps["a"], 200);
        assert_eq!(plan.caps["b"], 200, "alone: no stream, nothing taken");
        assert_eq!(plan.load.share_kbps, Some(200));
    }

    #[test]
    fn a_large_budget_never_lifts_the_cap_above_the_maximum() {
        let plan = plan(&[call("a", 1, 2)], Some(100_000), 150, 500);
        assert_eq!(plan.caps["a"], 500);
        assert_eq!(plan.load.share_kbps, None);
    }
}

//! Per-socket limits: a token bucket of `--signal-burst` events and `--signal-rate` a second;
//! excess events are dropped, and a socket that keeps flooding is cut off.

use std::time::Instant;

use crate::config::Config;

/// Dropped events after which a flooding socket is disconnected.
pub(super) const MAX_DROPPED: u32 = 200;

/// A token bucket per socket: a burst of `--signal-burst` events, then `--signal-rate` a second.
#[derive(Debug)]
pub(super) struct RateLimiter {
    burst: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
    dropped: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Allowed,
    Dropped,
    /// Dropped, and the socket has flooded for long enough to be cut off.
    CutOff,
}

impl RateLimiter {
    pub(super) fn new(config: &Config) -> Self {
        Self {
            burst: f64::from(config.signal_burst),
            per_sec: f64::from(config.signal_rate),
            tokens: f64::from(config.signal_burst),
            last: Instant::now(),
            dropped: 0,
        }
    }

    /// Spends one event from the budget.
    pub(super) fn take(&mut self) -> Verdict {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_sec;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allowed;
        }
        self.dropped += 1;
        if self.dropped > MAX_DROPPED {
            Verdict::CutOff
        } else {
            Verdict::Dropped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_allows_a_burst_then_drops_then_cuts_off() {
        let mut config =
            Config::with_defaults("127.0.0.1:0".parse().expect("an address"), "data".into());
        config.signal_burst = 10;
        config.signal_rate = 0;
        let mut limiter = RateLimiter::new(&config);

        let verdicts: Vec<Verdict> = (0..10 + MAX_DROPPED + 1).map(|_| limiter.take()).collect();

        assert!(verdicts[..10].iter().all(|v| *v == Verdict::Allowed));
        assert!(
            verdicts[10..10 + MAX_DROPPED as usize]
                .iter()
                .all(|v| *v == Verdict::Dropped)
        );
        assert_eq!(verdicts.last(), Some(&Verdict::CutOff));
    }
}

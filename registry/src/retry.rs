//! When and how long to wait before trying a request again.
//!
//! Exponential backoff with full jitter (AWS's "full jitter": a uniform wait between zero
//! and the exponential bound) spreads retries of many concurrent copies, and a
//! `Retry-After` from the registry always wins over our own guess.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// How requests are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Give up once this much time has passed since the first attempt.
    pub max_elapsed: Duration,
    /// The bound of the first backoff; it doubles with every attempt.
    pub initial_backoff: Duration,
    /// The largest backoff bound.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_elapsed: Duration::from_secs(120),
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_elapsed: Duration::ZERO,
            ..RetryPolicy::default()
        }
    }

    /// The upper bound of the wait after failed attempt number `attempt` (0-based).
    pub(crate) fn backoff_bound(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(20));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// A random wait in `[0, backoff_bound(attempt)]`.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let bound = self.backoff_bound(attempt).as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=bound))
    }

    /// How long to wait before the next attempt, or None to give up: the server's
    /// `Retry-After` when given, else the jittered backoff, as long as it fits in the
    /// budget left of `max_elapsed`.
    pub(crate) fn next_wait(
        &self,
        attempt: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let left = self.max_elapsed.checked_sub(elapsed)?;
        let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
        (wait <= left).then_some(wait)
    }
}

/// Whether a response with this status may be retried as is.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (relative to `now`).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_below_it() {
        let p = RetryPolicy {
            max_elapsed: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        assert_eq!(p.backoff_bound(0), Duration::from_millis(100));
        assert_eq!(p.backoff_bound(2), Duration::from_millis(400));
        assert_eq!(p.backoff_bound(10), Duration::from_secs(1));
        assert_eq!(p.backoff_bound(u32::MAX), Duration::from_secs(1));
        for attempt in 0..8 {
            for _ in 0..50 {
                assert!(p.backoff(attempt) <= p.backoff_bound(attempt));
            }
        }
    }

    #[test]
    fn gives_up_when_the_budget_is_spent() {
        let p = RetryPolicy {
            max_elapsed: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.next_wait(0, Duration::from_secs(1), Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            p.next_wait(0, Duration::from_secs(6), Some(Duration::from_secs(5))),
            None
        );
        assert_eq!(p.next_wait(0, Duration::from_secs(11), None), None);
        assert_eq!(RetryPolicy::none().next_wait(0, Duration::ZERO, None), None);
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s));
        }
        for s in [400, 401, 403, 404, 501] {
            assert!(!is_retryable_status(s));
        }
    }
}

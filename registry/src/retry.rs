//! When and how long to wait before trying a request again.
//!
//! Exponential backoff with full jitter (AWS's "full jitter": a uniform wait between zero
//! and the exponential bound) spreads retries of many concurrent copies, and a
//! `Retry-After` from the registry always wins over our own guess.

use std::time::{Duration, Instant, SystemTime};

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
        if self.max_elapsed.is_zero() {
            // `none()`: a zero wait must not sneak a retry in at elapsed zero.
            return None;
        }
        let left = self.max_elapsed.checked_sub(elapsed)?;
        let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
        (wait <= left).then_some(wait)
    }
}

/// The retry state of one request: counts attempts, waits between them and decides when
/// to give up. Every retry loop of the crate goes through it, so that the policy lives
/// here only.
pub(crate) struct Retrier<'a> {
    policy: &'a RetryPolicy,
    started: Instant,
    attempt: u32,
}

impl<'a> Retrier<'a> {
    /// Starts counting: the first attempt is about to be made.
    pub(crate) fn new(policy: &'a RetryPolicy) -> Retrier<'a> {
        Retrier {
            policy,
            started: Instant::now(),
            attempt: 0,
        }
    }

    /// The number of the current attempt, 0-based.
    #[cfg(test)]
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How many attempts have been made, the current one included.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempt + 1
    }

    /// After a failed attempt: sleeps and returns true when another attempt fits in the
    /// budget (honouring the server's `retry_after`), else returns false at once. Says
    /// what is retried, why and until when, at warn level: a run waiting on a registry
    /// is never silent (`registry R: connection refused, retrying until 12:03:10 ...`).
    pub(crate) async fn wait(
        &mut self,
        retry_after: Option<Duration>,
        registry: &str,
        what: &str,
        cause: &crate::error::ErrorKind,
    ) -> bool {
        match self
            .policy
            .next_wait(self.attempt, self.started.elapsed(), retry_after)
        {
            Some(wait) => {
                self.attempt += 1;
                tracing::warn!(
                    "registry {registry}: {}, retrying until {} (attempt {}; {what})",
                    short_cause(cause),
                    self.deadline_text(),
                    self.attempt + 1
                );
                tokio::time::sleep(wait).await;
                true
            }
            None => false,
        }
    }

    /// The local wall-clock time when the retries end, `HH:MM:SS`.
    fn deadline_text(&self) -> String {
        let left = self
            .policy
            .max_elapsed
            .saturating_sub(self.started.elapsed());
        let end = chrono::Local::now() + chrono::Duration::from_std(left).unwrap_or_default();
        end.format("%H:%M:%S").to_string()
    }

    /// The final error of a request that is not tried again: `error` with the number of
    /// attempts made.
    pub(crate) fn give_up(&self, error: crate::error::Error) -> crate::error::Error {
        error.with_attempts(self.attempts())
    }
}

/// A failure in a few words, for the retry warning (the final error says it in full).
pub(crate) fn short_cause(kind: &crate::error::ErrorKind) -> String {
    use crate::error::ErrorKind;
    match kind {
        ErrorKind::Unreachable { detail } => {
            let lower = detail.to_ascii_lowercase();
            let known = [
                ("connection refused", "connection refused"),
                ("connection reset", "connection reset"),
                ("broken pipe", "connection broken"),
                (
                    "temporary failure in name resolution",
                    "name resolution failed for now",
                ),
                ("dns error", "name resolution failed"),
                ("tls", "TLS handshake failed"),
                ("connection closed", "connection closed"),
                ("incomplete message", "connection closed mid-answer"),
            ];
            known
                .iter()
                .find(|(needle, _)| lower.contains(needle))
                .map(|(_, said)| said.to_string())
                .unwrap_or_else(|| crate::redact::cap(detail, 120))
        }
        ErrorKind::Timeout => "request timed out".into(),
        ErrorKind::RateLimited {
            retry_after: Some(d),
        } => {
            format!("HTTP 429 rate limited (Retry-After {}s)", d.as_secs())
        }
        ErrorKind::RateLimited { retry_after: None } => "HTTP 429 rate limited".into(),
        ErrorKind::Status { status, .. } | ErrorKind::TokenEndpoint { status, .. } => {
            let reason = reqwest::StatusCode::from_u16(*status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            format!("HTTP {status} {reason}").trim_end().to_string()
        }
        other => crate::redact::cap(&other.to_string(), 120),
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

    #[tokio::test]
    async fn retrier_counts_attempts_and_stops_at_the_budget() {
        let p = RetryPolicy {
            max_elapsed: Duration::from_millis(50),
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let mut r = Retrier::new(&p);
        let cause = crate::error::ErrorKind::Timeout;
        assert_eq!(r.attempts(), 1);
        assert!(r.wait(None, "r", "GET x", &cause).await);
        assert_eq!((r.attempt(), r.attempts()), (1, 2));
        // A Retry-After beyond the budget ends the retries at once.
        assert!(
            !r.wait(Some(Duration::from_secs(60)), "r", "GET x", &cause)
                .await
        );
        assert_eq!(r.attempts(), 2);
        let e = r.give_up(crate::error::Error::without_registry(
            crate::error::ErrorKind::Timeout,
        ));
        assert_eq!(e.attempts(), 2);
        let none = RetryPolicy::none();
        assert!(!Retrier::new(&none).wait(None, "r", "GET x", &cause).await);
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

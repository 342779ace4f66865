//! When to retry a request and how long to wait: exponential backoff with full jitter,
//! `Retry-After` honoured (seconds or HTTP-date) and clamped to the longest wait.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

/// How a `POST /track-usage` answer (or failure) is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// 2xx: delivered.
    Delivered,
    /// Network error, timeout, 408, 429, 5xx: try again later.
    Retry,
    /// 400, 413, 422: something in the batch is refused; split it to find what.
    Split,
    /// 401, 403, 404: the whole batch would fail the same way (a configuration error).
    FailAll,
    /// Any other 4xx (or 3xx): refused, not retried.
    Fail,
}

pub(crate) fn classify(status: StatusCode) -> Verdict {
    match status.as_u16() {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry,
        400 | 413 | 422 => Verdict::Split,
        401 | 403 | 404 => Verdict::FailAll,
        _ => Verdict::Fail,
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait before retry number `attempt` (0-based): uniformly random in
    /// `[0, min(max, initial * 2^attempt)]` ("full jitter"), or the server's `Retry-After`
    /// (clamped to `max`) when it asked for one.
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max);
        }
        let ceiling = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(31)))
            .min(self.max);
        ceiling.mul_f64(jitter())
    }
}

/// A uniform sample in [0, 1), from the random bits of a v4 UUID (already a dependency with a
/// fast thread-local generator).
fn jitter() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() as u64 >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// `Retry-After` as seconds (`120`) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(86_400.0)));
        }
        return None;
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_contract_says() {
        let v = |n: u16| classify(StatusCode::from_u16(n).unwrap());
        assert_eq!(v(200), Verdict::Delivered);
        assert_eq!(v(202), Verdict::Delivered);
        for n in [408, 429, 500, 502, 503, 504] {
            assert_eq!(v(n), Verdict::Retry, "{n}");
        }
        for n in [400, 413, 422] {
            assert_eq!(v(n), Verdict::Split, "{n}");
        }
        for n in [401, 403, 404] {
            assert_eq!(v(n), Verdict::FailAll, "{n}");
        }
        assert_eq!(v(409), Verdict::Fail);
        assert_eq!(v(302), Verdict::Fail);
    }

    #[test]
    fn backoff_grows_is_jittered_and_clamped() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        for attempt in 0..40 {
            let ceiling = Duration::from_millis(100)
                .saturating_mul(2u32.saturating_pow(attempt))
                .min(Duration::from_secs(2));
            for _ in 0..20 {
                assert!(b.wait(attempt, None) <= ceiling);
            }
        }
        let samples: Vec<Duration> = (0..64).map(|_| b.wait(10, None)).collect();
        assert!(samples.iter().any(|d| *d != samples[0]), "jitter varies");
        assert_eq!(
            b.wait(0, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            b.wait(0, Some(Duration::from_secs(60))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}

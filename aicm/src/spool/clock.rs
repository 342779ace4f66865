//! Time as the spool stores it: milliseconds since the Unix epoch, in INTEGER columns, so that
//! processes sharing a file compare leases and retry times without parsing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where "now" comes from. Tests move a manual clock past a lease instead of sleeping.
#[derive(Debug, Clone)]
pub(crate) enum Clock {
    System,
    #[cfg(test)]
    Manual(std::sync::Arc<std::sync::atomic::AtomicI64>),
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => to_ms(SystemTime::now()),
            #[cfg(test)]
            Clock::Manual(ms) => ms.load(std::sync::atomic::Ordering::SeqCst),
        }
    }
}

/// Milliseconds since the epoch; times before it become 0, after year 292 million saturate.
pub(crate) fn to_ms(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

pub(crate) fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// `now + d` in milliseconds, saturating.
pub(crate) fn add_ms(now: i64, d: Duration) -> i64 {
    now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_saturates() {
        let at = UNIX_EPOCH + Duration::from_millis(1_754_599_319_566);
        assert_eq!(from_ms(to_ms(at)), at);
        assert_eq!(to_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(add_ms(i64::MAX - 1, Duration::from_secs(1)), i64::MAX);
        assert_eq!(add_ms(1_000, Duration::from_millis(250)), 1_250);
    }
}

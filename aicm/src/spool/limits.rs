//! The bounds of a spool and what its `OnFull` policy does at them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::error::SpoolError;
use super::store::Live;
use crate::OnFull;

#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub max_rows: Option<u64>,
    pub max_bytes: Option<u64>,
    pub on_full: OnFull,
    pub block_timeout: Option<Duration>,
    pub path: Arc<PathBuf>,
}

/// What to do with a record that does not fit.
#[derive(Debug)]
pub(crate) enum Room {
    Refuse(SpoolError),
    Wait,
    Displace,
}

impl Limits {
    /// Whether one more row of `size` bytes stays within both limits.
    pub fn fits(&self, live: Live, size: u64) -> bool {
        self.max_rows.is_none_or(|max| live.rows < max)
            && self
                .max_bytes
                .is_none_or(|max| live.bytes.saturating_add(size) <= max)
    }

    /// A record no policy can store.
    pub fn too_large(&self, size: u64) -> Option<SpoolError> {
        match self.max_bytes {
            Some(max) if size > max => Some(SpoolError::TooLarge {
                path: (*self.path).clone(),
                size,
                max_bytes: max,
            }),
            _ => None,
        }
    }

    /// The policy's answer to a record that does not fit.
    pub fn room(&self, live: Live, _size: u64) -> Room {
        match self.on_full {
            OnFull::Raise => Room::Refuse(self.full(live)),
            OnFull::Block => Room::Wait,
            OnFull::Backpressure => Room::Displace,
        }
    }

    /// Whether appends that do not fit wait (and so keep their order).
    pub fn blocks(&self) -> bool {
        self.on_full == OnFull::Block
    }

    pub fn full(&self, live: Live) -> SpoolError {
        SpoolError::Full {
            path: (*self.path).clone(),
            rows: live.rows,
            bytes: live.bytes,
            max_rows: self.max_rows,
            max_bytes: self.max_bytes,
        }
    }

    pub fn timed_out(&self) -> SpoolError {
        SpoolError::BlockTimedOut {
            path: (*self.path).clone(),
            timeout: self.block_timeout.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rows: Option<u64>, bytes: Option<u64>, on_full: OnFull) -> Limits {
        Limits {
            max_rows: rows,
            max_bytes: bytes,
            on_full,
            block_timeout: None,
            path: Arc::new(PathBuf::from("/tmp/x.spool")),
        }
    }

    #[test]
    fn both_limits_bound_and_none_means_unbounded() {
        let l = limits(Some(2), Some(100), OnFull::Raise);
        assert!(l.fits(Live { rows: 1, bytes: 50 }, 50));
        assert!(!l.fits(Live { rows: 1, bytes: 50 }, 51), "bytes");
        assert!(!l.fits(Live { rows: 2, bytes: 0 }, 1), "rows");
        let open = limits(None, None, OnFull::Raise);
        assert!(open.fits(
            Live {
                rows: u64::MAX - 1,
                bytes: u64::MAX
            },
            u64::MAX
        ));
        assert!(open.too_large(u64::MAX).is_none());
        assert!(matches!(
            l.too_large(101),
            Some(SpoolError::TooLarge { size: 101, .. })
        ));
        assert!(l.too_large(100).is_none());
    }

    #[test]
    fn each_policy_answers_differently() {
        let live = Live { rows: 2, bytes: 0 };
        assert!(matches!(
            limits(Some(2), None, OnFull::Raise).room(live, 1),
            Room::Refuse(SpoolError::Full { rows: 2, .. })
        ));
        assert!(matches!(
            limits(Some(2), None, OnFull::Block).room(live, 1),
            Room::Wait
        ));
        assert!(matches!(
            limits(Some(2), None, OnFull::Backpressure).room(live, 1),
            Room::Displace
        ));
    }
}

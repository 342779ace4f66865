//! Which part of a batch to send next: the whole batch first; a range the service refused as a
//! whole (400, 413, 422) is split in halves, the left one first, until each bad record stands
//! alone and the good ones around it are delivered. The memory queue's sender and the spool's
//! delivery loop both walk their batches with it.

use std::ops::Range;

/// The ranges of one batch still to send.
pub(crate) struct Bisect {
    work: Vec<Range<usize>>,
}

impl Bisect {
    /// A batch of `len` records, to be sent whole first.
    pub(crate) fn new(len: usize) -> Bisect {
        let mut work = Vec::with_capacity(8);
        if len > 0 {
            work.push(0..len);
        }
        Bisect { work }
    }

    /// The next range to send.
    pub(crate) fn next(&mut self) -> Option<Range<usize>> {
        self.work.pop()
    }

    /// Splits a refused range into halves to send next; `false` for a single record, which
    /// the caller then fails.
    pub(crate) fn split(&mut self, range: Range<usize>, status: Option<u16>) -> bool {
        if range.len() < 2 {
            return false;
        }
        tracing::debug!(
            records = range.len(),
            status,
            "batch refused; splitting it to isolate the bad records"
        );
        let mid = range.start + range.len() / 2;
        self.work.push(mid..range.end);
        self.work.push(range.start..mid);
        true
    }

    /// Puts a range back unsent (a stopping loop hands back what it holds).
    #[cfg_attr(not(feature = "spool"), allow(dead_code))]
    pub(crate) fn put_back(&mut self, range: Range<usize>) {
        self.work.push(range);
    }

    /// The ranges not yet sent.
    #[cfg_attr(not(feature = "spool"), allow(dead_code))]
    pub(crate) fn pending(&self) -> &[Range<usize>] {
        &self.work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_batch_is_halved_until_the_bad_record_stands_alone() {
        // Record 5 of 8 is bad: every range holding it is refused.
        let mut bisect = Bisect::new(8);
        let (mut sent, mut failed) = (Vec::new(), Vec::new());
        while let Some(range) = bisect.next() {
            if range.contains(&5) {
                if !bisect.split(range.clone(), Some(422)) {
                    failed.push(range);
                }
            } else {
                sent.push(range);
            }
        }
        assert_eq!(failed, vec![5..6]);
        assert_eq!(sent, vec![0..4, 4..5, 6..8]);
        assert!(Bisect::new(0).next().is_none());
    }
}

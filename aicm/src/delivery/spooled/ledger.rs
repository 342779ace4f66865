//! This process's account of the spool rows it answers for, so that `flush` knows when what it
//! stored is settled and `health()` balances, although the rows live in a file that other
//! processes share and may deliver.
//!
//! A record is registered under its response id *before* it is appended (this process's
//! delivery loop may claim the row before `append` returns to the caller), confirmed once the
//! append is durable, and settled when it is acknowledged, failed or displaced: by this
//! process's loop, or, as a reconciliation pass finds, by another process. Rows this process
//! never stored but its loop claims or its appends displace (another process's, an earlier
//! run's) are adopted: counted as accepted, then settled, so the identity
//! `accepted = sent + failed + discarded + queued + in_flight` holds at every step.
//!
//! Memory: about 60 bytes per unsettled row this process stored or holds, only while it waits
//! (a long outage with a million rows stored by this process costs some 60 MB).

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant, SystemTime};

use crate::delivery::queue::Counters;
use crate::spool::RowState;

/// A response id, compactly: 32 lowercase hex digits as their value, anything else hashed
/// (128 bits, so a collision among a million ids is out of reach).
pub(crate) type Key = u128;

pub(crate) fn key_of(response_id: &str) -> Key {
    if response_id.len() == 32
        && response_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && let Ok(value) = u128::from_str_radix(response_id, 16)
    {
        return value;
    }
    let half = |seed: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut h);
        response_id.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// How a row left the spool (or this process's concern).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Sent,
    Failed,
    Discarded,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The spool row id (0 until confirmed, for a record of this process).
    row: i64,
    /// Position in this process's acceptance order, for `flush` (valid once confirmed).
    seq: u64,
    /// The append returned `Ok` (or the row was adopted): counted in `accepted`.
    confirmed: bool,
    /// This process's loop holds the row claimed.
    in_flight: bool,
    /// Settled before the append returned: counted when it is confirmed.
    early: Option<Outcome>,
}

/// The rows this process answers for, and the counters of its health.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    entries: HashMap<Key, Entry>,
    /// Confirmed, unsettled entries by acceptance order.
    open: BTreeMap<u64, Key>,
    next_seq: u64,
    pub counters: Counters,
    queued: usize,
    in_flight: usize,
    pub last_error: Option<String>,
    pub last_success_at: Option<SystemTime>,
    /// Rows stored since the last claim began, and when the first of them was: the loop claims
    /// a partial batch once it is `batch_interval` old.
    fresh: usize,
    fresh_since: Option<Instant>,
    /// Threads and tasks waiting in `flush`: the loop skips the batch interval for them.
    pub flush_waiters: usize,
    /// Where the next reconciliation pass starts (an acceptance sequence number).
    reconcile_from: u64,
}

/// The part of a snapshot the ledger knows.
#[derive(Debug, Clone)]
pub(crate) struct LedgerView {
    pub queued: usize,
    pub in_flight: usize,
    pub counters: Counters,
    pub last_error: Option<String>,
    pub last_success_at: Option<SystemTime>,
}

impl Ledger {
    /// Registers a record about to be appended. `false`: a row with this response id is
    /// already this process's concern (the append will be a duplicate); nothing to confirm.
    pub fn register(&mut self, key: Key) -> bool {
        if self.entries.contains_key(&key) {
            return false;
        }
        self.entries.insert(
            key,
            Entry {
                row: 0,
                seq: 0,
                confirmed: false,
                in_flight: false,
                early: None,
            },
        );
        true
    }

    /// The append of a registered record is durable (row `row`). Returns how many fresh rows
    /// wait for a claim, for the caller's decision to wake the loop.
    pub fn confirm(&mut self, key: Key, row: i64, now: Instant) -> usize {
        let Some(entry) = self.entries.get_mut(&key) else {
            return self.fresh;
        };
        if entry.confirmed {
            return self.fresh;
        }
        self.counters.accepted += 1;
        if let Some(outcome) = entry.early {
            self.entries.remove(&key);
            self.count(outcome);
            return self.fresh;
        }
        entry.confirmed = true;
        entry.row = row;
        entry.seq = self.next_seq;
        self.open.insert(self.next_seq, key);
        self.next_seq += 1;
        if entry.in_flight {
            self.in_flight += 1;
        } else {
            self.queued += 1;
            self.fresh += 1;
            self.fresh_since.get_or_insert(now);
        }
        self.fresh
    }

    /// The append of a registered record failed (or its caller stopped waiting): the record is
    /// not this process's. A row with its response id that the loop already touched is then
    /// another's, adopted.
    pub fn abandon(&mut self, key: Key) {
        let Some(entry) = self.entries.get(&key) else {
            return;
        };
        if entry.confirmed {
            return;
        }
        let early = entry.early;
        self.entries.remove(&key);
        if let Some(outcome) = early {
            self.counters.accepted += 1;
            self.count(outcome);
        }
    }

    /// This process's loop claimed these rows `(key, row id)`.
    pub fn claimed(&mut self, rows: impl IntoIterator<Item = (Key, i64)>) {
        for (key, row) in rows {
            match self.entries.get_mut(&key) {
                Some(entry) => {
                    if entry.row == 0 {
                        entry.row = row;
                    }
                    if !entry.in_flight {
                        entry.in_flight = true;
                        if entry.confirmed {
                            self.queued = self.queued.saturating_sub(1);
                            self.in_flight += 1;
                        }
                    }
                }
                None => {
                    // Another process's row, or an earlier run's: adopted.
                    self.entries.insert(
                        key,
                        Entry {
                            row,
                            seq: self.next_seq,
                            confirmed: true,
                            in_flight: true,
                            early: None,
                        },
                    );
                    self.open.insert(self.next_seq, key);
                    self.next_seq += 1;
                    self.counters.accepted += 1;
                    self.in_flight += 1;
                }
            }
        }
    }

    /// These rows left the spool (or were failed) with `outcome`.
    pub fn settle(&mut self, keys: impl IntoIterator<Item = Key>, outcome: Outcome) {
        for key in keys {
            match self.entries.get_mut(&key) {
                Some(entry) if !entry.confirmed => entry.early = Some(outcome),
                Some(entry) => {
                    let entry = *entry;
                    self.entries.remove(&key);
                    self.open.remove(&entry.seq);
                    if entry.in_flight {
                        self.in_flight = self.in_flight.saturating_sub(1);
                    } else {
                        self.queued = self.queued.saturating_sub(1);
                    }
                    self.count(outcome);
                }
                None => {
                    self.counters.accepted += 1;
                    self.count(outcome);
                }
            }
        }
    }

    /// These rows are back in the queue (released for a retry, or unclaimed at shutdown).
    pub fn released(&mut self, keys: impl IntoIterator<Item = Key>) {
        for key in keys {
            if let Some(entry) = self.entries.get_mut(&key)
                && entry.in_flight
            {
                entry.in_flight = false;
                if entry.confirmed {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.queued += 1;
                }
            }
        }
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Sent => self.counters.sent += 1,
            Outcome::Failed => self.counters.failed += 1,
            Outcome::Discarded => self.counters.discarded += 1,
        }
    }

    /// The sequence number the next confirmed row gets: a flush waits for every row below.
    pub fn flush_target(&self) -> u64 {
        self.next_seq
    }

    pub fn settled_below(&self, target: u64) -> bool {
        self.open
            .first_key_value()
            .is_none_or(|(seq, _)| *seq >= target)
    }

    pub fn pending_below(&self, target: u64) -> usize {
        self.open.range(..target).count()
    }

    /// Whether a flush waits for rows that may be claimed now.
    pub fn urgent(&self) -> bool {
        self.flush_waiters > 0 && self.queued > 0
    }

    /// A claim begins: the fresh rows are its business now.
    pub fn take_fresh(&mut self) {
        self.fresh = 0;
        self.fresh_since = None;
    }

    /// When fresh rows make a claim due: `Some(now)` or earlier means at once, `None` when
    /// there are none.
    pub fn fresh_due(&self, max_batch: usize, interval: Duration, now: Instant) -> Option<Instant> {
        if self.fresh == 0 {
            return None;
        }
        if self.fresh >= max_batch || self.urgent() {
            return Some(now);
        }
        self.fresh_since.map(|since| since + interval)
    }

    /// Up to `limit` rows this process stored that wait in the file (not held by its loop):
    /// another process may have delivered or failed them. Rotates through all of them over
    /// successive passes.
    pub fn reconcile_batch(&mut self, limit: usize) -> Vec<(Key, i64)> {
        let mut batch = Vec::new();
        let mut last = None;
        for (&seq, key) in self.open.range(self.reconcile_from..) {
            if batch.len() >= limit {
                break;
            }
            last = Some(seq);
            if let Some(entry) = self.entries.get(key)
                && !entry.in_flight
                && entry.row != 0
            {
                batch.push((*key, entry.row));
            }
        }
        self.reconcile_from = match last {
            Some(seq) if batch.len() >= limit => seq + 1,
            _ => 0,
        };
        batch
    }

    /// What a reconciliation pass read: a row gone (or its id now another row's) was
    /// delivered elsewhere; a failed one was failed elsewhere.
    pub fn apply_reconcile(&mut self, found: Vec<(Key, Option<(RowState, String)>)>) {
        for (key, state) in found {
            // The loop may have claimed it since the read: then it is the loop's to settle.
            let Some(entry) = self.entries.get(&key) else {
                continue;
            };
            if entry.in_flight || !entry.confirmed {
                continue;
            }
            let outcome = match state {
                Some((RowState::Failed, id)) if key_of(&id) == key => Outcome::Failed,
                Some((_, id)) if key_of(&id) == key => continue,
                _ => Outcome::Sent,
            };
            self.settle([key], outcome);
        }
    }

    pub fn view(&self) -> LedgerView {
        LedgerView {
            queued: self.queued,
            in_flight: self.in_flight,
            counters: self.counters,
            last_error: self.last_error.clone(),
            last_success_at: self.last_success_at,
        }
    }

    /// Whether the identity holds (tests).
    #[cfg(test)]
    fn balanced(&self) -> bool {
        let c = self.counters;
        c.accepted == c.sent + c.failed + c.discarded + self.queued as u64 + self.in_flight as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u128) -> Key {
        n
    }

    #[test]
    fn keys_read_hex_ids_as_values_and_hash_the_rest() {
        assert_eq!(key_of("0000000000000000000000000000002a"), 42);
        assert_ne!(key_of("order-1"), key_of("order-2"));
        assert_eq!(key_of("order-1"), key_of("order-1"));
        // Upper case is not the generated form: hashed, not parsed.
        assert_ne!(
            key_of("0000000000000000000000000000002A"),
            key_of("0000000000000000000000000000002a")
        );
    }

    #[test]
    fn a_stored_row_goes_queued_in_flight_released_sent() {
        let mut l = Ledger::default();
        let now = Instant::now();
        assert!(l.register(k(1)));
        assert!(!l.register(k(1)), "a second registration is a duplicate");
        assert_eq!(l.confirm(k(1), 10, now), 1);
        let target = l.flush_target();
        assert!(!l.settled_below(target));
        l.claimed([(k(1), 10)]);
        assert_eq!((l.queued, l.in_flight), (0, 1));
        l.released([k(1)]);
        assert_eq!((l.queued, l.in_flight), (1, 0));
        l.claimed([(k(1), 10)]);
        l.settle([k(1)], Outcome::Sent);
        assert!(l.settled_below(target));
        assert_eq!(l.counters.sent, 1);
        assert!(l.balanced());
    }

    #[test]
    fn a_row_settled_before_its_append_returned_counts_once_confirmed() {
        let mut l = Ledger::default();
        assert!(l.register(k(7)));
        l.claimed([(k(7), 3)]);
        l.settle([k(7)], Outcome::Sent);
        assert_eq!(l.counters.accepted, 0, "not yet confirmed");
        assert!(l.balanced());
        l.confirm(k(7), 3, Instant::now());
        assert_eq!((l.counters.accepted, l.counters.sent), (1, 1));
        assert!(l.entries.is_empty() && l.open.is_empty());
        assert!(l.balanced());
    }

    #[test]
    fn other_processes_rows_are_adopted_when_claimed_or_displaced() {
        let mut l = Ledger::default();
        l.claimed([(k(1), 1), (k(2), 2)]);
        assert_eq!((l.counters.accepted, l.in_flight), (2, 2));
        l.settle([k(1)], Outcome::Failed);
        l.settle([k(2)], Outcome::Sent);
        l.settle([k(3)], Outcome::Discarded);
        assert_eq!(
            (
                l.counters.accepted,
                l.counters.failed,
                l.counters.sent,
                l.counters.discarded
            ),
            (3, 1, 1, 1)
        );
        assert!(l.balanced());
    }

    #[test]
    fn an_abandoned_append_leaves_no_trace_unless_its_row_was_settled() {
        let mut l = Ledger::default();
        l.register(k(1));
        l.abandon(k(1));
        assert_eq!(l.counters.accepted, 0);
        l.register(k(2));
        l.claimed([(k(2), 5)]);
        l.settle([k(2)], Outcome::Sent);
        l.abandon(k(2));
        assert_eq!((l.counters.accepted, l.counters.sent), (1, 1));
        assert!(l.entries.is_empty());
        assert!(l.balanced());
    }

    #[test]
    fn reconciliation_settles_rows_gone_or_failed_elsewhere_and_rotates() {
        let mut l = Ledger::default();
        let now = Instant::now();
        let id = |n: u128| format!("{n:032x}");
        for n in 1..=5 {
            l.register(k(n));
            l.confirm(k(n), n as i64, now);
        }
        l.claimed([(k(5), 5)]);
        let first = l.reconcile_batch(2);
        assert_eq!(first, vec![(k(1), 1), (k(2), 2)]);
        let second = l.reconcile_batch(2);
        assert_eq!(second, vec![(k(3), 3), (k(4), 4)]);
        // 5 is held by this process's loop: never reconciled.
        assert_eq!(l.reconcile_batch(2), vec![]);
        assert_eq!(l.reconcile_batch(10).len(), 4, "wrapped around");
        l.apply_reconcile(vec![
            (k(1), None),
            (k(2), Some((RowState::Failed, id(2)))),
            (k(3), Some((RowState::Claimed, id(3)))),
            // Row 4's id now names another record: 4 itself is gone.
            (k(4), Some((RowState::Queued, id(99)))),
        ]);
        assert_eq!((l.counters.sent, l.counters.failed), (2, 1));
        assert_eq!((l.queued, l.in_flight), (1, 1));
        assert!(l.balanced());
    }

    #[test]
    fn fresh_rows_are_due_by_size_interval_or_flush() {
        let mut l = Ledger::default();
        let now = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(l.fresh_due(10, second, now), None);
        l.register(k(1));
        l.confirm(k(1), 1, now);
        assert_eq!(l.fresh_due(10, second, now), Some(now + second));
        l.flush_waiters = 1;
        assert_eq!(l.fresh_due(10, second, now), Some(now));
        l.flush_waiters = 0;
        assert_eq!(l.fresh_due(1, second, now), Some(now));
        l.take_fresh();
        assert_eq!(l.fresh_due(1, second, now), None);
    }
}

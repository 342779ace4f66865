//! The bounded queue every Tracker of a worker pushes into, with the counters of
//! `DeliveryHealth` under the same lock so that every snapshot balances:
//! `accepted = sent + failed + discarded + queued + in_flight`.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::health::DeliveryHealth;
use super::options::OnFull;
use super::record::QueuedRecord;
use super::signal::{How, Signal};
use crate::{FlushError, TrackError};

/// Record and request counters; only `batches_sent` and `retries` count requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub accepted: u64,
    pub sent: u64,
    pub failed: u64,
    pub discarded: u64,
    pub batches_sent: u64,
    pub retries: u64,
}

/// A batch taken out of the queue; it stays "in flight" until all its records are settled.
#[derive(Debug, Clone, Copy)]
struct Flight {
    min_seq: u64,
    remaining: usize,
}

struct State {
    records: VecDeque<QueuedRecord>,
    in_flight: usize,
    flights: BTreeMap<u64, Flight>,
    next_flight: u64,
    counters: Counters,
    last_error: Option<String>,
    last_success_at: Option<SystemTime>,
    /// When the oldest record of the current partial batch arrived.
    batch_started: Option<Instant>,
    /// Records with a lower seq are wanted now by `flush`/`close`: no batch interval wait.
    urgent_below: u64,
    /// No Tracker uses the worker any more: deliver what is left, then stop.
    closing: bool,
    worker_alive: bool,
}

impl State {
    fn pending_below(&self, target: u64) -> usize {
        let queued = self.records.iter().take_while(|r| r.seq < target).count();
        let flying: usize = self
            .flights
            .values()
            .filter(|f| f.min_seq < target)
            .map(|f| f.remaining)
            .sum();
        queued + flying
    }

    fn settled_below(&self, target: u64) -> bool {
        self.records.front().is_none_or(|r| r.seq >= target)
            && self.flights.values().all(|f| f.min_seq >= target)
    }
}

/// Why a push was refused.
pub(crate) enum Refused {
    /// The worker is closing or stopped; the record is dropped (the caller gets `Closed`).
    Closed,
    /// The queue is full; the record comes back so a `Block` caller can retry it.
    Full(QueuedRecord),
}

impl Refused {
    pub fn into_error(self, capacity: usize) -> TrackError {
        match self {
            Refused::Closed => TrackError::Closed,
            Refused::Full(_) => TrackError::QueueFull { capacity },
        }
    }
}

/// What a push did besides queueing the record.
pub(crate) enum Pushed {
    Queued,
    /// The oldest record was dropped to make room; the caller reports it (outside the lock).
    Displaced(QueuedRecord),
}

pub(crate) struct Queue {
    state: Mutex<State>,
    capacity: usize,
    max_batch: usize,
    /// Room freed in the queue, or it closed (`OnFull::Block` waits on it).
    room: Signal,
    /// Records settled, or the worker stopped (`flush` waits on it).
    progress: Signal,
    /// Wakes the worker: a batch is due, a flush is wanted, or the worker should stop.
    pub work: Notify,
}

/// Why a blocked push gave up.
pub(crate) enum BlockOutcome {
    Room,
    TimedOut,
    Closed,
}

impl Queue {
    pub fn new(capacity: usize, max_batch: usize) -> Queue {
        Queue {
            state: Mutex::new(State {
                records: VecDeque::with_capacity(capacity.min(65_536)),
                in_flight: 0,
                flights: BTreeMap::new(),
                next_flight: 0,
                counters: Counters::default(),
                last_error: None,
                last_success_at: None,
                batch_started: None,
                urgent_below: 0,
                closing: false,
                worker_alive: true,
            }),
            capacity: capacity.max(1),
            max_batch: max_batch.max(1),
            room: Signal::default(),
            progress: Signal::default(),
            work: Notify::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues `record` under `policy`, without waiting. Under `Block` a full queue gives
    /// `Err(QueueFull)` here and the caller decides how to wait (thread or task).
    // The refused record travels back by value so a blocked caller can retry without boxing.
    #[allow(clippy::result_large_err)]
    pub fn try_push(&self, mut record: QueuedRecord, policy: OnFull) -> Result<Pushed, Refused> {
        let mut state = self.state.lock();
        if state.closing || !state.worker_alive {
            return Err(Refused::Closed);
        }
        let mut displaced = None;
        if state.records.len() >= self.capacity {
            match policy {
                OnFull::Backpressure => {
                    displaced = state.records.pop_front();
                    state.counters.discarded += 1;
                }
                OnFull::Raise | OnFull::Block => return Err(Refused::Full(record)),
            }
        }
        record.seq = state.counters.accepted;
        state.counters.accepted += 1;
        state.records.push_back(record);
        let len = state.records.len();
        if len == 1 {
            state.batch_started = Some(Instant::now());
        }
        let wake = len == 1 || len == self.max_batch;
        drop(state);
        if wake {
            self.work.notify_one();
        }
        Ok(match displaced {
            Some(old) => Pushed::Displaced(old),
            None => Pushed::Queued,
        })
    }

    /// Waits (as `how` says) until the queue has room, `deadline` passes or it closes.
    pub async fn wait_for_room(&self, how: How, deadline: Option<Instant>) -> BlockOutcome {
        let room = || {
            let state = self.state.lock();
            if state.closing || !state.worker_alive {
                Some(BlockOutcome::Closed)
            } else if state.records.len() < self.capacity {
                Some(BlockOutcome::Room)
            } else {
                None
            }
        };
        self.room
            .wait(how, deadline, room)
            .await
            .unwrap_or(BlockOutcome::TimedOut)
    }

    /// What the worker should do next.
    pub fn next_batch(&self, batch_interval: Duration) -> NextBatch {
        let mut state = self.state.lock();
        if state.records.is_empty() {
            state.batch_started = None;
            return if state.closing && state.in_flight == 0 {
                NextBatch::Stop
            } else {
                NextBatch::Wait(None)
            };
        }
        let front_seq = state.records.front().map_or(u64::MAX, |r| r.seq);
        let due_at = state.batch_started.map(|t| t + batch_interval);
        let now = Instant::now();
        let due = state.records.len() >= self.max_batch
            || state.closing
            || front_seq < state.urgent_below
            || due_at.is_none_or(|at| at <= now);
        if !due {
            return NextBatch::Wait(due_at);
        }
        let n = state.records.len().min(self.max_batch);
        let batch: Vec<QueuedRecord> = state.records.drain(..n).collect();
        state.batch_started = if state.records.is_empty() {
            None
        } else {
            Some(now)
        };
        let flight = state.next_flight;
        state.next_flight += 1;
        let min_seq = batch.first().map_or(0, |r| r.seq);
        state.flights.insert(
            flight,
            Flight {
                min_seq,
                remaining: batch.len(),
            },
        );
        state.in_flight += batch.len();
        drop(state);
        self.room.notify();
        NextBatch::Send(flight, batch)
    }

    /// Accounts one record sent directly (not through the queue) as accepted and in flight.
    pub fn open_direct_flight(&self) -> u64 {
        let mut state = self.state.lock();
        let flight = state.next_flight;
        state.next_flight += 1;
        let seq = state.counters.accepted;
        state.counters.accepted += 1;
        state.in_flight += 1;
        state.flights.insert(
            flight,
            Flight {
                min_seq: seq,
                remaining: 1,
            },
        );
        flight
    }

    /// Settles `sent` delivered and `failed` failed records of a flight.
    pub fn settle(&self, flight: u64, sent: usize, failed: usize, error: Option<String>) {
        let mut state = self.state.lock();
        let n = sent + failed;
        state.in_flight = state.in_flight.saturating_sub(n);
        state.counters.sent += sent as u64;
        state.counters.failed += failed as u64;
        if let Some(error) = error {
            state.last_error = Some(error);
        }
        if let Some(f) = state.flights.get_mut(&flight) {
            f.remaining = f.remaining.saturating_sub(n);
            if f.remaining == 0 {
                state.flights.remove(&flight);
            }
        }
        let stop_ready = state.closing && state.in_flight == 0 && state.records.is_empty();
        drop(state);
        self.progress.notify();
        if stop_ready {
            self.work.notify_one();
        }
    }

    /// Records a 2xx answer (one request).
    pub fn note_success(&self) {
        let mut state = self.state.lock();
        state.counters.batches_sent += 1;
        state.last_success_at = Some(SystemTime::now());
    }

    /// Records one retried request and why.
    pub fn note_retry(&self, error: &str) {
        let mut state = self.state.lock();
        state.counters.retries += 1;
        state.last_error = Some(error.to_owned());
    }

    /// The sequence number the next record will get: `flush` waits for all below it.
    fn flush_target(&self) -> u64 {
        let mut state = self.state.lock();
        let target = state.counters.accepted;
        state.urgent_below = state.urgent_below.max(target);
        target
    }

    /// Waits (as `how` says) until every record accepted before the call is settled, or
    /// `timeout`.
    pub async fn flush(&self, how: How, timeout: Duration) -> Result<(), FlushError> {
        let target = self.flush_target();
        self.work.notify_one();
        let done = || {
            let state = self.state.lock();
            (state.settled_below(target) || !state.worker_alive).then_some(())
        };
        self.progress
            .wait(how, Some(Instant::now() + timeout), done)
            .await;
        let state = self.state.lock();
        if state.settled_below(target) {
            return Ok(());
        }
        Err(FlushError::new(state.pending_below(target), timeout))
    }

    /// No Tracker uses the worker any more: new pushes are refused, the rest is delivered.
    pub fn begin_closing(&self) {
        let mut state = self.state.lock();
        state.closing = true;
        drop(state);
        self.wake_everyone();
    }

    /// The worker has stopped: nothing more will be delivered.
    pub fn mark_worker_stopped(&self) {
        self.state.lock().worker_alive = false;
        self.wake_everyone();
    }

    fn wake_everyone(&self) {
        self.work.notify_one();
        self.room.notify();
        self.progress.notify();
    }

    pub fn is_closing(&self) -> bool {
        self.state.lock().closing
    }

    /// One consistent snapshot of the counters.
    pub fn health(&self) -> DeliveryHealth {
        let state = self.state.lock();
        DeliveryHealth::from_state(
            state.worker_alive,
            state.records.len(),
            self.capacity,
            state.in_flight,
            state.counters,
            state.last_error.clone(),
            state.last_success_at,
        )
    }
}

/// The worker's next step.
pub(crate) enum NextBatch {
    /// Send this flight now.
    Send(u64, Vec<QueuedRecord>),
    /// Nothing due: wait for a wake-up, or until the instant (the partial batch is due).
    Wait(Option<Instant>),
    /// Closing and empty: stop.
    Stop,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::delivery::record::Origin;
    use crate::delivery::record::ResponseId;
    use crate::delivery::signal::run_blocking;

    fn record(core: &Arc<Origin>) -> QueuedRecord {
        QueuedRecord {
            seq: 0,
            origin: core.clone(),
            response_id: ResponseId::generate(),
            timestamp: SystemTime::now(),
            service_key: None,
            body: bytes::Bytes::from_static(b"{}"),
        }
    }

    fn balanced(q: &Queue) -> DeliveryHealth {
        let h = q.health();
        assert!(h.is_balanced(), "identity broken: {h:?}");
        h
    }

    #[test]
    fn backpressure_drops_the_oldest_and_counts_it() {
        let core = Origin::for_tests("cfg");
        let q = Queue::new(3, 10);
        let mut seqs = Vec::new();
        for _ in 0..5 {
            match q.try_push(record(&core), OnFull::Backpressure) {
                Ok(Pushed::Queued) => {}
                Ok(Pushed::Displaced(old)) => seqs.push(old.seq),
                Err(_) => panic!("backpressure never refuses"),
            }
        }
        assert_eq!(seqs, vec![0, 1], "the oldest records are displaced first");
        let h = balanced(&q);
        assert_eq!(
            (h.total_accepted, h.total_discarded, h.queue_size),
            (5, 2, 3)
        );
        assert!((h.queue_utilization - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn raise_refuses_and_keeps_the_record_out() {
        let core = Origin::for_tests("cfg");
        let q = Queue::new(2, 10);
        for _ in 0..2 {
            assert!(q.try_push(record(&core), OnFull::Raise).is_ok());
        }
        match q.try_push(record(&core), OnFull::Raise) {
            Err(Refused::Full(_)) => {}
            _ => panic!("expected a full queue"),
        }
        let h = balanced(&q);
        assert_eq!(
            (h.total_accepted, h.queue_size, h.total_discarded),
            (2, 2, 0)
        );
    }

    #[test]
    fn batches_settle_and_flush_sees_them() {
        let core = Origin::for_tests("cfg");
        let q = Queue::new(100, 4);
        for _ in 0..6 {
            assert!(q.try_push(record(&core), OnFull::Raise).is_ok());
        }
        // A full batch is due at once; the partial rest waits for the interval.
        let NextBatch::Send(f1, b1) = q.next_batch(Duration::from_secs(60)) else {
            panic!("a full batch is due");
        };
        assert_eq!(b1.len(), 4);
        assert!(matches!(
            q.next_batch(Duration::from_secs(60)),
            NextBatch::Wait(Some(_))
        ));
        let h = balanced(&q);
        assert_eq!((h.in_flight, h.queue_size), (4, 2));
        // A flush in progress makes the partial batch due now.
        assert_eq!(
            run_blocking(q.flush(How::Block, Duration::from_millis(1))),
            Err(FlushError::new(6, Duration::from_millis(1)))
        );
        let NextBatch::Send(f2, b2) = q.next_batch(Duration::from_secs(60)) else {
            panic!("flush makes the rest due");
        };
        assert_eq!(b2.len(), 2);
        q.settle(f1, 3, 1, Some("HTTP 422: bad".into()));
        q.settle(f2, 2, 0, None);
        let h = balanced(&q);
        assert_eq!((h.total_sent, h.total_failed, h.in_flight), (5, 1, 0));
        assert_eq!(h.last_error.as_deref(), Some("HTTP 422: bad"));
        assert_eq!(
            run_blocking(q.flush(How::Block, Duration::from_millis(1))),
            Ok(())
        );
    }

    #[test]
    fn closing_refuses_new_records_and_stops_when_drained() {
        let core = Origin::for_tests("cfg");
        let q = Queue::new(10, 10);
        assert!(q.try_push(record(&core), OnFull::Raise).is_ok());
        q.begin_closing();
        assert!(matches!(
            q.try_push(record(&core), OnFull::Raise),
            Err(Refused::Closed)
        ));
        let NextBatch::Send(f, b) = q.next_batch(Duration::from_secs(60)) else {
            panic!("closing sends what is left at once");
        };
        assert!(matches!(
            q.next_batch(Duration::ZERO),
            NextBatch::Wait(None)
        ));
        q.settle(f, b.len(), 0, None);
        assert!(matches!(q.next_batch(Duration::ZERO), NextBatch::Stop));
    }

    #[test]
    fn a_blocked_producer_wakes_when_the_worker_takes_a_batch() {
        let core = Origin::for_tests("cfg");
        let q = Arc::new(Queue::new(1, 1));
        assert!(q.try_push(record(&core), OnFull::Block).is_ok());
        let waiter = {
            let q = q.clone();
            std::thread::spawn(move || run_blocking(q.wait_for_room(How::Block, None)))
        };
        // Poll (with a deadline) until the producer is parked, then free a slot.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !q.room.has_waiters() {
            assert!(
                std::time::Instant::now() < deadline,
                "producer never blocked"
            );
            std::thread::yield_now();
        }
        assert!(matches!(q.next_batch(Duration::ZERO), NextBatch::Send(..)));
        assert!(matches!(waiter.join().unwrap(), BlockOutcome::Room));
    }
}

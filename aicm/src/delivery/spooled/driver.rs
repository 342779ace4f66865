//! The spool delivery loop, on the worker's runtime: claim due rows (`max_batch_size` at a
//! time, up to `max_concurrent_requests` batches in flight), POST them with the worker's HTTP
//! sender, and settle every row in the file: acknowledged after a 2xx, released with backoff
//! after a retryable failure (failed once its retry budget is spent), failed with the server's
//! reason when refused, a refused batch bisected until the bad rows are isolated.
//!
//! Retries are not waited out while holding the rows: a released row goes back to the file
//! with its retry time, so a crash in between loses nothing and the lease only has to cover
//! one request. Every spool call here is an `*_async` form or runs on the blocking pool, so
//! the worker's current-thread runtime is never blocked.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::ledger::{Key, Outcome, key_of};
use super::shared::SpoolShared;
use super::wire;
use crate::delivery::bisect::Bisect;
use crate::delivery::options::DeliveryOptions;
use crate::delivery::retry::Verdict;
use crate::delivery::send::{Answer, Sender};
use crate::delivery::wire::{Contract, RecordAnswer};
use crate::spool::{ClaimedRow, DisplacedRow, Spool};

/// Rows another process left behind (its lease ended) or whose retry time came are looked for
/// at least this often, even when nothing wakes the loop.
const MIN_POLL: Duration = Duration::from_secs(1);
/// How often rows this process stored are checked for delivery by another process: often
/// while a flush waits for them, seldom otherwise (it only keeps `health()` current).
const RECONCILE_FLUSHING: Duration = Duration::from_millis(200);
const RECONCILE_IDLE: Duration = Duration::from_secs(5);
const RECONCILE_BATCH: usize = 1_000;

/// One worker's delivery loop on a spool, and how to stop it.
pub(crate) struct SpoolDriver {
    pub shared: Arc<SpoolShared>,
    lease: Duration,
    stop: watch::Sender<bool>,
    /// The earliest retry time of rows this loop released: it wakes then.
    next_retry: Mutex<Option<Instant>>,
    /// Still counted in `shared.drivers` (flushes give up at once when no loop runs).
    counted: AtomicBool,
    /// Rows became due outside the loop's plan (taken over from a gone owner): claim now.
    claim_soon: AtomicBool,
}

impl std::fmt::Debug for SpoolDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolDriver")
            .field("path", &self.shared.path())
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl SpoolDriver {
    /// A loop for `shared` claiming with `lease`; counted as running from now, so a flush
    /// right after `build` waits for it.
    pub fn new(shared: Arc<SpoolShared>, lease: Duration) -> Arc<SpoolDriver> {
        shared.drivers.fetch_add(1, Ordering::AcqRel);
        Arc::new(SpoolDriver {
            shared,
            lease,
            stop: watch::channel(false).0,
            next_retry: Mutex::new(None),
            counted: AtomicBool::new(true),
            claim_soon: AtomicBool::new(false),
        })
    }

    /// Stops the loop: no new claims; batches in flight are abandoned and their rows put back
    /// in the file, due at once, without counting an attempt.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn finish(&self) {
        if self.counted.swap(false, Ordering::AcqRel) {
            self.shared.drivers.fetch_sub(1, Ordering::AcqRel);
            self.shared.notify_settled();
        }
    }

    fn note_retry_at(&self, at: Instant) {
        let mut next = self.next_retry.lock();
        *next = Some(next.map_or(at, |t| t.min(at)));
    }
}

impl Drop for SpoolDriver {
    fn drop(&mut self) {
        self.finish();
    }
}

/// What every delivery of one loop shares.
struct Ctx {
    driver: Arc<SpoolDriver>,
    sender: Arc<Sender>,
    owner: String,
    contract: Contract,
}

/// Runs until [`SpoolDriver::stop`].
pub(crate) async fn run(driver: Arc<SpoolDriver>, sender: Arc<Sender>, options: DeliveryOptions) {
    let max_batch = options.max_batch_size.max(1);
    let concurrency = options.max_concurrent_requests.max(1);
    let poll = options.batch_interval.max(MIN_POLL);
    let shared = driver.shared.clone();
    shared.note_batch_size(max_batch);
    // Rows are sent in the shape of the contract in force, which `Auto` may still be asking
    // the service about.
    let mut stop = driver.stop.subscribe();
    let contract = tokio::select! {
        contract = sender.decided() => contract,
        _ = stop.wait_for(|stopped| *stopped) => {
            driver.finish();
            return;
        }
    };
    let ctx = Arc::new(Ctx {
        driver: driver.clone(),
        sender,
        owner: Spool::new_owner(),
        contract,
    });
    // Registered before the first claim (the writer commits operations in the order they
    // are submitted), so that other processes can tell this loop alive. The heartbeat task
    // then takes over the rows of owners that are gone, and wakes the loop for them.
    shared.owners.lock().push(ctx.owner.clone());
    let registered = shared.spool.heartbeat_async(&ctx.owner, driver.lease);
    tokio::spawn(async move {
        if let Err(e) = registered.await {
            tracing::warn!(error = %e, "could not register this process in the spool; its claims are protected by their lease only");
        }
    });
    tracing::debug!(path = %shared.path().display(), owner = %ctx.owner, "spool delivery loop started");
    let permits = Arc::new(Semaphore::new(concurrency));
    let reconciler = tokio::spawn(reconcile(ctx.clone(), driver.stop.subscribe()));
    let heartbeat = tokio::spawn(heartbeat(ctx.clone(), driver.stop.subscribe()));
    // Claim at once when the file held rows at open: an earlier run or a dead process left
    // them behind. (Rows of a gone owner taken over later wake the loop through
    // `claim_soon`; other rows that become due are found by the poll.)
    let mut claim_now = shared.left_at_open > 0;
    let mut next_poll = Instant::now() + poll;
    while !*stop.borrow() {
        if driver.claim_soon.swap(false, Ordering::AcqRel) {
            claim_now = true;
        }
        if !claim_now {
            let notified = shared.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            let next_retry = *driver.next_retry.lock();
            let fresh = shared
                .ledger
                .lock()
                .fresh_due(max_batch, options.batch_interval, now);
            let wake = [fresh, next_retry, Some(next_poll)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(next_poll);
            if wake > now {
                tokio::select! {
                    () = &mut notified => {}
                    () = tokio::time::sleep_until(wake.into()) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.ok(),
            _ = stop.changed() => None,
        };
        let Some(permit) = permit else {
            continue;
        };
        shared.ledger.lock().take_fresh();
        let now = Instant::now();
        next_poll = now + poll;
        {
            let mut next_retry = driver.next_retry.lock();
            if next_retry.is_some_and(|t| t <= now) {
                *next_retry = None;
            }
        }
        let rows = match shared
            .spool
            .claim_async(&ctx.owner, max_batch, driver.lease)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim spooled records; trying again shortly");
                shared.ledger.lock().last_error = Some(e.to_string());
                claim_now = false;
                continue;
            }
        };
        claim_now = rows.len() >= max_batch;
        if rows.is_empty() {
            continue;
        }
        shared
            .ledger
            .lock()
            .claimed(rows.iter().map(|r| (key_of(&r.response_id), r.id)));
        tokio::spawn(deliver(ctx.clone(), rows, permit, driver.stop.subscribe()));
    }
    // Deliveries in flight put their rows back and end; then nothing of this loop is left.
    let _ = permits.acquire_many(concurrency as u32).await;
    let _ = reconciler.await;
    let _ = heartbeat.await;
    // It holds nothing any more: nobody needs to judge whether it is alive.
    if let Err(e) = shared.spool.deregister_async(&ctx.owner).await {
        tracing::debug!(error = %e, "could not remove this process from the spool's owners");
    }
    shared.owners.lock().retain(|o| *o != ctx.owner);
    driver.finish();
    tracing::debug!(path = %shared.path().display(), "spool delivery loop stopped");
}

/// Delivers one claimed batch and settles each of its rows.
async fn deliver(
    ctx: Arc<Ctx>,
    rows: Vec<ClaimedRow>,
    permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let rows = ctx.reframe(rows).await;
    if rows.is_empty() {
        drop(permit);
        return;
    }
    // The whole batch first, halves after a refusal.
    let mut bisect = Bisect::new(rows.len());
    let mut just_claimed = true;
    while let Some(range) = bisect.next() {
        if *stop.borrow() {
            bisect.put_back(range);
            ctx.unclaim(&rows, bisect.pending()).await;
            break;
        }
        if !just_claimed {
            ctx.renew(&rows[range.clone()]).await;
        }
        just_claimed = false;
        let answer = tokio::select! {
            answer = ctx.sender.request(ctx.contract, batch_body(ctx.contract, &rows[range.clone()])) => Some(answer),
            _ = stop.changed() => None,
        };
        let Some(answer) = answer else {
            bisect.put_back(range);
            ctx.unclaim(&rows, bisect.pending()).await;
            break;
        };
        let batch = &rows[range.clone()];
        match answer.verdict {
            Verdict::Delivered => {
                let answers = ctx.sender.record_answers(
                    ctx.contract,
                    answer.body.as_ref(),
                    batch.iter().map(|r| r.response_id.as_str()),
                );
                let (sent, refused): (Vec<_>, Vec<_>) = batch
                    .iter()
                    .zip(answers)
                    .partition(|(_, a)| *a == RecordAnswer::Sent);
                let sent: Vec<ClaimedRow> = sent.into_iter().map(|(r, _)| r.clone()).collect();
                ctx.delivered(&sent).await;
                for (row, refusal) in refused {
                    if let RecordAnswer::Refused { status, messages } = refusal {
                        ctx.refused(row, answer.status, &status, messages).await;
                    }
                }
            }
            Verdict::Retry => ctx.retry(batch, &answer).await,
            Verdict::Split if bisect.split(range.clone(), answer.status) => {}
            _ => {
                let all: Vec<&ClaimedRow> = batch.iter().collect();
                ctx.fail(&all, answer.status, &answer.message).await;
            }
        }
    }
    drop(permit);
}

/// The contract's batch (`{"usage_records":[<row>,...]}`, `{"tracked":[<row>,...]}`) from
/// the rows' stored bodies.
fn batch_body(contract: Contract, rows: &[ClaimedRow]) -> bytes::Bytes {
    bytes::Bytes::from(contract.batch_body(rows.iter().map(|r| r.body.as_slice())))
}

fn ids<'a>(rows: impl IntoIterator<Item = &'a ClaimedRow>) -> Vec<i64> {
    rows.into_iter().map(|r| r.id).collect()
}

fn keys<'a>(rows: impl IntoIterator<Item = &'a ClaimedRow>) -> Vec<Key> {
    rows.into_iter().map(|r| key_of(&r.response_id)).collect()
}

impl Ctx {
    fn shared(&self) -> &SpoolShared {
        &self.driver.shared
    }

    /// The rows in the shape of the contract in force: a file written under the other
    /// contract (another build, another `AICM_PROTOCOL`) is delivered, never sent in the wrong
    /// shape. A row that cannot be reframed (today's record without a config id for the
    /// config-based API, a damaged body) fails for good with the reason, kept in the file.
    async fn reframe(&self, rows: Vec<ClaimedRow>) -> Vec<ClaimedRow> {
        let mut ready = Vec::with_capacity(rows.len());
        let mut unsendable = Vec::new();
        for mut row in rows {
            match self.contract.reframe(&row.body, &row.config_id) {
                Ok(Cow::Borrowed(_)) => ready.push(row),
                Ok(Cow::Owned(body)) => {
                    row.body = body;
                    ready.push(row);
                }
                Err(reason) => unsendable.push((row, reason)),
            }
        }
        for (row, reason) in unsendable {
            let reason = format!(
                "cannot be sent under the {} contract: {reason}",
                self.contract.protocol()
            );
            self.fail(&[&row], None, &reason).await;
        }
        ready
    }

    async fn delivered(&self, batch: &[ClaimedRow]) {
        if batch.is_empty() {
            let mut ledger = self.shared().ledger.lock();
            ledger.counters.batches_sent += 1;
            ledger.last_success_at = Some(SystemTime::now());
            return;
        }
        let shared = self.shared();
        let row_ids = ids(batch);
        match shared.spool.ack_async(&self.owner, &row_ids).await {
            Ok(n) if n < row_ids.len() => tracing::debug!(
                lost = row_ids.len() - n,
                "delivered rows whose lease had ended; their new owner sends them again (same \
                 response_id, deduplicated by the server)"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "delivered records could not be removed from the spool; they will be sent again \
                 once their lease ends (same response_id, deduplicated by the server)"
            ),
        }
        {
            let mut ledger = shared.ledger.lock();
            ledger.counters.batches_sent += 1;
            ledger.last_success_at = Some(SystemTime::now());
            ledger.settle(keys(batch), Outcome::Sent);
        }
        shared.notify_settled();
    }

    /// A retryable failure: rows with budget left go back to the file until their backoff
    /// ends (the server's `Retry-After` honoured); the others fail with the last reason.
    async fn retry(&self, batch: &[ClaimedRow], answer: &Answer) {
        let shared = self.shared();
        let max_retries = self.sender.max_retries;
        let (give_up, again): (Vec<&ClaimedRow>, Vec<&ClaimedRow>) = batch
            .iter()
            .partition(|r| r.attempts.saturating_add(1) > max_retries);
        if !again.is_empty() {
            let attempt = again.iter().map(|r| r.attempts).max().unwrap_or(0);
            let wait = self.sender.backoff.wait(attempt, answer.retry_after);
            let row_ids = ids(again.iter().copied());
            if let Err(e) = shared
                .spool
                .release_async(
                    &self.owner,
                    &row_ids,
                    SystemTime::now() + wait,
                    answer.status,
                    &answer.message,
                )
                .await
            {
                tracing::warn!(error = %e, "could not release spooled records for a retry; they are retried once their lease ends");
            }
            {
                let mut ledger = shared.ledger.lock();
                ledger.counters.retries += 1;
                ledger.last_error = Some(answer.message.clone());
                ledger.released(keys(again.iter().copied()));
            }
            self.driver.note_retry_at(Instant::now() + wait);
            shared.work.notify_waiters();
            shared.notify_settled();
            tracing::debug!(
                records = again.len(),
                status = answer.status,
                error = %answer.message,
                wait_ms = wait.as_millis() as u64,
                attempt = attempt + 1,
                "spooled records will be retried"
            );
        }
        if !give_up.is_empty() {
            let attempts = give_up
                .iter()
                .map(|r| r.attempts.saturating_add(1))
                .max()
                .unwrap_or(1);
            let message = format!("gave up after {attempts} attempts: {}", answer.message);
            self.fail(&give_up, answer.status, &message).await;
        }
    }

    /// Fails rows for good: the reason kept in the file for the operator, counted, warned
    /// about once per cause, handed to the `on_failed` of the Tracker they belong to.
    async fn fail(&self, rows: &[&ClaimedRow], status: Option<u16>, message: &str) {
        let error = self.shared().reports.failed(status, message, rows.len());
        self.fail_with(rows, status, error, None).await;
    }

    /// Fails one row the service refused in a 2xx answer (today's contract: `error`,
    /// `service_key_unknown`): kept in the file as failed with the service's reason, counted,
    /// warned about once per status word, handed to `on_failed`; never retried.
    async fn refused(
        &self,
        row: &ClaimedRow,
        http_status: Option<u16>,
        status: &str,
        messages: Vec<String>,
    ) {
        let error = self.shared().reports.refused(status, &messages);
        self.fail_with(&[row], http_status, error, Some((status, messages)))
            .await;
    }

    /// What failing rows takes once their `error` is known: marked failed in the file, each
    /// handed to `on_failed` (with the service's `refusal` of it, if any), then settled as
    /// failed, after the callbacks, so that `flush` and `close` return once they have run.
    async fn fail_with(
        &self,
        rows: &[&ClaimedRow],
        status: Option<u16>,
        error: String,
        refusal: Option<(&str, Vec<String>)>,
    ) {
        let shared = self.shared();
        let row_ids = ids(rows.iter().copied());
        if let Err(e) = shared
            .spool
            .fail_async(&self.owner, &row_ids, status, &error)
            .await
        {
            tracing::warn!(error = %e, "could not mark spooled records failed; they are tried again once their lease ends");
        }
        for row in rows {
            report_failed(shared, row, status, &error, refusal.clone());
        }
        {
            let mut ledger = shared.ledger.lock();
            ledger.last_error = Some(error);
            ledger.settle(keys(rows.iter().copied()), Outcome::Failed);
        }
        shared.notify_settled();
    }

    /// Puts rows back in the queue, due at once and without an attempt counted.
    async fn unclaim(&self, rows: &[ClaimedRow], ranges: &[Range<usize>]) {
        let shared = self.shared();
        let held: Vec<&ClaimedRow> = ranges.iter().flat_map(|r| &rows[r.clone()]).collect();
        if held.is_empty() {
            return;
        }
        if let Err(e) = shared
            .spool
            .unclaim_async(&self.owner, &ids(held.iter().copied()))
            .await
        {
            tracing::debug!(error = %e, "could not hand back claimed rows; they are taken over when their lease ends");
        }
        shared.ledger.lock().released(keys(held.iter().copied()));
        shared.notify_settled();
    }

    /// Extends the lease before another request of a long (bisected) batch.
    async fn renew(&self, rows: &[ClaimedRow]) {
        match self
            .shared()
            .spool
            .renew_async(&self.owner, &ids(rows), self.driver.lease)
            .await
        {
            Ok(n) if n < rows.len() => tracing::debug!(
                lost = rows.len() - n,
                "some claimed rows were taken over by another process; they may be delivered \
                 twice (same response_id, deduplicated by the server)"
            ),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "could not renew a lease"),
        }
    }
}

/// Hands a failed row to the `on_failed` of the Tracker of this process it belongs to (same
/// config and service, else same config); rows of no such Tracker are only logged.
fn report_failed(
    shared: &SpoolShared,
    row: &ClaimedRow,
    status: Option<u16>,
    error: &str,
    refusal: Option<(&str, Vec<String>)>,
) {
    let (config_id, service_id) =
        wire::owner_ids(&row.body).unwrap_or_else(|| (row.config_id.clone(), String::new()));
    if let Some(origin) = shared.tracker_for(&config_id, &service_id) {
        origin.hand_failed(
            || wire::usage_record(&row.body, &row.response_id, &row.config_id, row.created_at),
            status,
            error,
            refusal,
        );
    }
}

/// Rows deleted to make room under `OnFull::Backpressure`: warned about once, counted as
/// discarded, handed to the `on_discard` of the Tracker they belong to. Runs on the thread
/// whose `track` displaced them.
pub(crate) fn report_displaced(shared: &SpoolShared, displaced: Vec<DisplacedRow>) {
    if displaced.is_empty() {
        return;
    }
    let options = shared.spool.options();
    let reason =
        shared
            .reports
            .displaced_from_spool(shared.path(), options.max_rows, options.max_bytes);
    for row in &displaced {
        let Some((config_id, service_id)) = wire::owner_ids(&row.body) else {
            continue;
        };
        if let Some(origin) = shared.tracker_for(&config_id, &service_id) {
            origin.hand_discarded(
                || wire::usage_record(&row.body, &row.response_id, &config_id, SystemTime::now()),
                &reason,
            );
        }
    }
    shared.settle(
        displaced.iter().map(|r| key_of(&r.response_id)),
        Outcome::Discarded,
    );
}

/// Takes over the rows of owners that are gone (on the blocking pool: it reads `/proc` and
/// the file), and wakes the loop to claim them when rows became due.
async fn take_over(ctx: &Ctx) {
    let shared = ctx.driver.shared.clone();
    let due = match tokio::task::spawn_blocking(move || shared.spool.take_over_gone()).await {
        Ok(Ok(t)) => t.claimed + t.retries > 0,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "could not look for gone spool owners");
            false
        }
        Err(_) => false,
    };
    if due {
        ctx.driver.claim_soon.store(true, Ordering::Release);
        ctx.driver.shared.work.notify_waiters();
    }
}

/// Every `heartbeat_interval` (and at once when a flush begins): records that this loop is
/// alive, renewing the lease of every row it holds, and takes over the rows of owners that
/// are gone, waking the loop to claim them.
async fn heartbeat(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let shared = ctx.driver.shared.clone();
    let interval = shared
        .spool
        .options()
        .heartbeat_interval
        .max(Duration::from_millis(10));
    let mut failing = false;
    take_over(&ctx).await;
    while !*stop.borrow() {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shared.recover.notified() => {}
            _ = stop.changed() => continue,
        }
        match shared
            .spool
            .heartbeat_async(&ctx.owner, ctx.driver.lease)
            .await
        {
            Ok(_) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "spool heartbeat failed; other processes may take this process's claims over once its heartbeat is stale (records may then be sent twice, deduplicated by response_id)");
            }
            Err(e) => tracing::debug!(error = %e, "spool heartbeat failed again"),
        }
        take_over(&ctx).await;
    }
}

/// Finds rows this process stored that another process delivered or failed, so `flush`
/// returns and `health()` balances. Reads on the blocking pool (the reader connection may
/// wait on the disk).
async fn reconcile(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let shared = ctx.driver.shared.clone();
    let mut last = Instant::now();
    while !*stop.borrow() {
        let flushing = shared.ledger.lock().flush_waiters > 0;
        let wake = last
            + if flushing {
                RECONCILE_FLUSHING
            } else {
                RECONCILE_IDLE
            };
        if Instant::now() < wake {
            let notified = shared.work.notified();
            tokio::pin!(notified);
            // A flush that starts shortens the wait.
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(wake.into()) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        last = Instant::now();
        let batch = shared.ledger.lock().reconcile_batch(RECONCILE_BATCH);
        if batch.is_empty() {
            continue;
        }
        let reader = shared.clone();
        let row_ids: Vec<i64> = batch.iter().map(|(_, id)| *id).collect();
        match tokio::task::spawn_blocking(move || reader.spool.row_states(&row_ids)).await {
            Ok(Ok(states)) => {
                let found = batch.into_iter().map(|(k, _)| k).zip(states).collect();
                shared.ledger.lock().apply_reconcile(found);
                shared.notify_settled();
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "spool reconciliation read failed"),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_body_joins_the_stored_bodies() {
        let row = |id: i64, body: &str| ClaimedRow {
            id,
            response_id: format!("{id:032x}"),
            body: body.as_bytes().to_vec(),
            config_id: "cfg".into(),
            attempts: 0,
            created_at: SystemTime::UNIX_EPOCH,
        };
        let rows = [row(1, r#"{"a":1}"#), row(2, r#"{"b":2}"#)];
        assert_eq!(
            &batch_body(Contract::Configs, &rows)[..],
            br#"{"usage_records":[{"a":1},{"b":2}]}"#
        );
        assert_eq!(
            &batch_body(Contract::Configs, &[])[..],
            br#"{"usage_records":[]}"#
        );
        assert_eq!(
            &batch_body(Contract::Track, &rows)[..],
            br#"{"tracked":[{"a":1},{"b":2}]}"#
        );
    }
}

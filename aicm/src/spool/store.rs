//! The statements, one function each, on a connection the caller has put in the right
//! transaction. Row-changing functions that act for a delivery worker take its `owner` and touch
//! only rows it still holds, so a process whose lease ran out (and whose rows another process
//! took over) can no longer acknowledge, release or fail them.
//!
//! `next_attempt_at = 0` marks a row never claimed (see the schema module); every statement
//! that queues a row again writes a time of at least 1 there.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, ToSql, params};

use super::clock::{add_ms, from_ms};
use super::rows::{AccountRows, ClaimedRow, DisplacedRow, FailedRow, IdSource, Selection};

/// Queued + claimed rows and their body bytes, as the triggers keep them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Live {
    pub rows: u64,
    pub bytes: u64,
}

/// The row counts and bytes of `spool_meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Meta {
    pub queued: u64,
    pub claimed: u64,
    pub failed: u64,
    pub live_bytes: u64,
    pub failed_bytes: u64,
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn meta(conn: &Connection) -> rusqlite::Result<Meta> {
    conn.prepare_cached(
        "SELECT queued, claimed, failed, live_bytes, failed_bytes FROM spool_meta WHERE k = 1",
    )?
    .query_row([], |r| {
        Ok(Meta {
            queued: u64_of(r.get(0)?),
            claimed: u64_of(r.get(1)?),
            failed: u64_of(r.get(2)?),
            live_bytes: u64_of(r.get(3)?),
            failed_bytes: u64_of(r.get(4)?),
        })
    })
}

pub(crate) fn live(conn: &Connection) -> rusqlite::Result<Live> {
    let m = meta(conn)?;
    Ok(Live {
        rows: m.queued + m.claimed,
        bytes: m.live_bytes,
    })
}

/// The id the next append of this transaction takes: above every row, and not below
/// `fresh_from`, where claims look for rows never claimed (see the schema module).
pub(crate) fn next_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT max(fresh_from, coalesce((SELECT max(id) FROM spool), 0) + 1)
         FROM spool_meta WHERE k = 1",
    )?
    .query_row([], |r| r.get(0))
}

/// Inserts a never-claimed row with id `id` (from [`next_id`]). `false`: a row with this
/// given response id exists already (a generated one is never looked up). The caller adds
/// the row to `spool_meta` (see [`add_inserted`]).
pub(crate) fn insert(conn: &Connection, row: &NewRow<'_>) -> rusqlite::Result<bool> {
    let NewRow {
        id,
        response_id,
        source,
        body,
        config_id,
        account,
        now,
    } = *row;
    let given = source == IdSource::Given;
    let changed = conn
        .prepare_cached(
            "INSERT INTO spool
                 (id, response_id, given, body, config_id, account, created_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)
             ON CONFLICT (response_id) WHERE given = 1 DO NOTHING",
        )?
        .execute(params![
            id,
            response_id,
            given,
            body,
            config_id,
            account,
            now
        ])?;
    Ok(changed == 1)
}

/// A row to insert: its id (from [`next_id`]), record and account, at `now`.
#[derive(Clone, Copy)]
pub(crate) struct NewRow<'a> {
    pub id: i64,
    pub response_id: &'a str,
    pub source: IdSource,
    pub body: &'a [u8],
    pub config_id: &'a str,
    pub account: &'a [u8],
    pub now: i64,
}

/// Counts rows inserted by this transaction into `spool_meta`: once per group instead of a
/// trigger per row.
pub(crate) fn add_inserted(conn: &Connection, rows: u64, bytes: u64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE spool_meta SET queued = queued + ?1, live_bytes = live_bytes + ?2,
             appended = appended + ?1
         WHERE k = 1",
    )?
    .execute(params![
        i64::try_from(rows).unwrap_or(i64::MAX),
        i64::try_from(bytes).unwrap_or(i64::MAX)
    ])?;
    Ok(())
}

/// The row holding this given response id (through `spool_given`; generated ids are not in
/// it).
pub(crate) fn find_given(conn: &Connection, response_id: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM spool WHERE response_id = ?1 AND given = 1")?
        .query_row([response_id], |r| r.get(0))
        .optional()
}

/// Deletes the oldest queued row (by id) of `account` to make room; `None` when it has no row
/// queued. Rows of other accounts are never touched.
pub(crate) fn displace_oldest(
    conn: &Connection,
    account: &[u8],
) -> rusqlite::Result<Option<DisplacedRow>> {
    conn.prepare_cached(
        "DELETE FROM spool WHERE id = (
             SELECT id FROM spool WHERE state = 'queued' AND account = ?1 ORDER BY id LIMIT 1)
         RETURNING id, response_id, body",
    )?
    .query_row([account], |r| {
        Ok(DisplacedRow {
            id: r.get(0)?,
            response_id: r.get(1)?,
            body: r.get(2)?,
        })
    })
    .optional()
}

/// The claim statement. Each arm of the subquery reads at most `max` rows in its own order:
/// `spool_due` for rows claimed before (the `due_at > 0` term lets SQLite use that partial
/// index), the table by id for the others (all at `fresh_from` or above). Only rows of the
/// claiming account (`?5`): rows of another account are stepped over, and wait for a process
/// with that account's key.
pub(crate) const CLAIM: &str = "UPDATE spool SET state = 'claimed', owner = ?1, lease_until = ?2
     WHERE id IN (
         SELECT id FROM (
             SELECT id, due FROM (
                 SELECT id, due_at AS due FROM spool
                 WHERE due_at > 0 AND due_at <= ?3 AND account = ?5
                 ORDER BY due_at, id LIMIT ?4)
             UNION ALL
             SELECT id, due FROM (
                 SELECT id, created_at AS due FROM spool
                 WHERE id >= (SELECT fresh_from FROM spool_meta WHERE k = 1)
                     AND state = 'queued' AND next_attempt_at = 0 AND account = ?5
                 ORDER BY id LIMIT ?4))
         ORDER BY due, id LIMIT ?4)
     RETURNING id, response_id, body, config_id, attempts, created_at";

/// Claims up to `max` due rows in ONE statement: rows never claimed (due since they were
/// appended), queued rows whose retry time has come and claimed rows whose lease has ended
/// (their owner died or stalled), longest due first. A lease ending at `t` is over at `t`.
/// Returned sorted by id. Then moves `fresh_from` up past the never-claimed rows it took.
pub(crate) fn claim(
    conn: &Connection,
    owner: &str,
    account: &[u8],
    max: usize,
    lease: Duration,
    now: i64,
) -> rusqlite::Result<Vec<ClaimedRow>> {
    let lease_until = add_ms(now, lease);
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    let mut rows = conn
        .prepare_cached(CLAIM)?
        .query_map(params![owner, lease_until, now, max, account], |r| {
            Ok(ClaimedRow {
                id: r.get(0)?,
                response_id: r.get(1)?,
                body: r.get(2)?,
                config_id: r.get(3)?,
                attempts: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(u32::MAX),
                created_at: from_ms(r.get(5)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if !rows.is_empty() {
        // The lowest never-claimed row left, or past every row when none is.
        conn.prepare_cached(
            "UPDATE spool_meta SET fresh_from = coalesce(
                 (SELECT id FROM spool WHERE id >= spool_meta.fresh_from AND state = 'queued'
                      AND next_attempt_at = 0 ORDER BY id LIMIT 1),
                 (SELECT coalesce(max(id), 0) + 1 FROM spool))
             WHERE k = 1",
        )?
        .execute([])?;
    }
    rows.sort_unstable_by_key(|r| r.id);
    Ok(rows)
}

/// The rows whose ids are in the JSON array bound as `?1` (see [`id_list`]), as a literal for
/// `concat!`. One statement for a whole batch instead of one per row: each statement opens
/// and closes a statement journal and sets up the trigger programs, which per row cost more
/// than the row's own change.
macro_rules! in_ids {
    () => {
        "id IN (SELECT value FROM json_each(?1))"
    };
}

/// Runs `sql`, which picks its rows with `in_ids!()`, with `ids` bound as `?1` and `rest` as
/// `?2`, `?3`, …; returns how many rows changed. An empty list changes nothing and runs no
/// statement.
fn execute_on_ids(
    conn: &Connection,
    sql: &'static str,
    ids: &[i64],
    rest: &[&dyn ToSql],
) -> rusqlite::Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let list = id_list(ids);
    let mut bound: Vec<&dyn ToSql> = Vec::with_capacity(rest.len() + 1);
    bound.push(&list);
    bound.extend_from_slice(rest);
    conn.prepare_cached(sql)?.execute(bound.as_slice())
}

/// `ids` as a JSON array for `in_ids!()`.
fn id_list(ids: &[i64]) -> String {
    use std::fmt::Write;
    let mut list = String::with_capacity(ids.len() * 8 + 2);
    list.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        // Writing into a String cannot fail.
        let _ = write!(list, "{id}");
    }
    list.push(']');
    list
}

/// Deletes delivered rows still held by `owner`; returns how many.
pub(crate) fn ack(conn: &Connection, owner: &str, ids: &[i64]) -> rusqlite::Result<usize> {
    execute_on_ids(
        conn,
        concat!(
            "DELETE FROM spool WHERE ",
            in_ids!(),
            " AND owner = ?2 AND state = 'claimed'"
        ),
        ids,
        params![owner],
    )
}

/// Puts rows back in the queue to be retried at `retry_at`, one attempt more. The row keeps
/// its `owner`: should that process die before the retry time, the process that notices
/// retries it at once (the backoff died with it).
pub(crate) fn release(
    conn: &Connection,
    owner: &str,
    ids: &[i64],
    retry_at: i64,
    status: Option<u16>,
    error: &str,
) -> rusqlite::Result<usize> {
    execute_on_ids(
        conn,
        concat!(
            "UPDATE spool SET state = 'queued', lease_until = NULL,
                 attempts = attempts + 1, next_attempt_at = max(?3, 1), last_status = ?4,
                 last_error = ?5
             WHERE ",
            in_ids!(),
            " AND owner = ?2 AND state = 'claimed'"
        ),
        ids,
        params![owner, retry_at, status, error],
    )
}

/// Marks rows failed, keeping the server's status and reason, one attempt more.
pub(crate) fn fail(
    conn: &Connection,
    owner: &str,
    ids: &[i64],
    status: Option<u16>,
    reason: &str,
    now: i64,
) -> rusqlite::Result<usize> {
    execute_on_ids(
        conn,
        concat!(
            "UPDATE spool SET state = 'failed', owner = NULL, lease_until = NULL,
                 attempts = attempts + 1, last_status = ?3, last_error = ?4, failed_at = ?5
             WHERE ",
            in_ids!(),
            " AND owner = ?2 AND state = 'claimed'"
        ),
        ids,
        params![owner, status, reason, now],
    )
}

/// Extends the lease of rows still held by `owner` (even if it has just run out, as long as
/// nobody took them over).
pub(crate) fn renew(
    conn: &Connection,
    owner: &str,
    ids: &[i64],
    lease: Duration,
    now: i64,
) -> rusqlite::Result<usize> {
    execute_on_ids(
        conn,
        concat!(
            "UPDATE spool SET lease_until = ?3 WHERE ",
            in_ids!(),
            " AND owner = ?2 AND state = 'claimed'"
        ),
        ids,
        params![owner, add_ms(now, lease)],
    )
}

/// Hands rows still held by `owner` back to the queue, due at `now`, without counting an
/// attempt (a worker stopping mid-delivery: nothing was tried to the end).
pub(crate) fn unclaim(
    conn: &Connection,
    owner: &str,
    ids: &[i64],
    now: i64,
) -> rusqlite::Result<usize> {
    execute_on_ids(
        conn,
        concat!(
            "UPDATE spool SET state = 'queued', owner = NULL, lease_until = NULL,
                 next_attempt_at = max(?3, 1)
             WHERE ",
            in_ids!(),
            " AND owner = ?2 AND state = 'claimed'"
        ),
        ids,
        params![owner, now],
    )
}

/// Failed rows back to the queue, due now, with a fresh retry budget.
pub(crate) fn requeue(
    conn: &Connection,
    selection: &Selection,
    now: i64,
) -> rusqlite::Result<usize> {
    macro_rules! set {
        ($now:literal) => {
            concat!(
                "UPDATE spool SET state = 'queued', attempts = 0, next_attempt_at = max(",
                $now,
                ", 1), owner = NULL, lease_until = NULL, failed_at = NULL"
            )
        };
    }
    match selection {
        Selection::All => conn
            .prepare_cached(concat!(set!("?1"), " WHERE state = 'failed'"))?
            .execute([now]),
        Selection::Ids(ids) => execute_on_ids(
            conn,
            concat!(set!("?2"), " WHERE ", in_ids!(), " AND state = 'failed'"),
            ids,
            params![now],
        ),
    }
}

/// Deletes failed rows.
pub(crate) fn purge(conn: &Connection, selection: &Selection) -> rusqlite::Result<usize> {
    match selection {
        Selection::All => conn
            .prepare_cached("DELETE FROM spool WHERE state = 'failed'")?
            .execute([]),
        Selection::Ids(ids) => execute_on_ids(
            conn,
            concat!(
                "DELETE FROM spool WHERE ",
                in_ids!(),
                " AND state = 'failed'"
            ),
            ids,
            params![],
        ),
    }
}

/// When the oldest queued or claimed row was appended (ids grow with time, so the first live
/// row by id; the scan passes over failed rows only).
pub(crate) fn oldest_live(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT created_at FROM spool WHERE state != 'failed' ORDER BY id LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()
}

/// Where a row is in its life (see the module diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowState {
    Queued,
    Claimed,
    Failed,
}

/// The state and response id of one row; `None` when there is no row with this id.
pub(crate) fn row_state(
    conn: &Connection,
    id: i64,
) -> rusqlite::Result<Option<(RowState, String)>> {
    conn.prepare_cached("SELECT state, response_id FROM spool WHERE id = ?1")?
        .query_row([id], |r| {
            let state = match r.get_ref(0)?.as_str()? {
                "queued" => RowState::Queued,
                "claimed" => RowState::Claimed,
                _ => RowState::Failed,
            };
            Ok((state, r.get(1)?))
        })
        .optional()
}

/// Queued and claimed rows stored for an account other than `account`.
pub(crate) fn live_rows_of_others(conn: &Connection, account: &[u8]) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM spool WHERE state != 'failed' AND account != ?1")?
        .query_row([account], |r| r.get::<_, i64>(0))
        .map(u64_of)
}

/// Rows per account (its fingerprint in hex), most rows first.
pub(crate) fn accounts(conn: &Connection) -> rusqlite::Result<Vec<AccountRows>> {
    let mut stmt = conn.prepare_cached(
        "SELECT lower(hex(account)), sum(state = 'queued'), sum(state = 'claimed'),
                sum(state = 'failed')
         FROM spool GROUP BY account ORDER BY count(*) DESC, account",
    )?;
    stmt.query_map([], |r| {
        Ok(AccountRows {
            account: r.get(0)?,
            queued: u64_of(r.get(1)?),
            claimed: u64_of(r.get(2)?),
            failed: u64_of(r.get(3)?),
        })
    })?
    .collect()
}

/// Rows ever appended to the file.
pub(crate) fn appended(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT appended FROM spool_meta WHERE k = 1")?
        .query_row([], |r| r.get(0))
}

/// Failed rows, oldest first, starting after row id `after`.
pub(crate) fn list_failed(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> rusqlite::Result<Vec<FailedRow>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT id, response_id, config_id, body, attempts, last_status, last_error,
                created_at, failed_at
         FROM spool WHERE state = 'failed' AND id > ?1 ORDER BY id LIMIT ?2",
    )?;
    stmt.query_map(params![after, limit], |r| {
        Ok(FailedRow {
            id: r.get(0)?,
            response_id: r.get(1)?,
            config_id: r.get(2)?,
            body: r.get(3)?,
            attempts: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(u32::MAX),
            last_status: r
                .get::<_, Option<i64>>(5)?
                .and_then(|s| u16::try_from(s).ok()),
            last_error: r.get(6)?,
            created_at: from_ms(r.get(7)?),
            failed_at: r.get::<_, Option<i64>>(8)?.map(from_ms),
        })
    })?
    .collect()
}

/// Registers `owner` (or refreshes its heartbeat) and extends the lease of every row it holds
/// to `lease_until`. Returns how many rows it holds.
pub(crate) fn heartbeat(
    conn: &Connection,
    owner: &str,
    me: &super::owner::ProcessIdentity,
    lease_until: i64,
    now: i64,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT INTO spool_owners (owner, host, pid, started, heartbeat_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
    )?
    .execute(params![owner, me.host, me.pid, me.started, now])?;
    conn.prepare_cached("UPDATE spool SET lease_until = ?2 WHERE owner = ?1 AND state = 'claimed'")?
        .execute(params![owner, lease_until])
}

/// Removes `owner` from the registry (its loop stopped; it holds nothing any more).
pub(crate) fn deregister(conn: &Connection, owner: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM spool_owners WHERE owner = ?1")?
        .execute([owner])
}

/// Every registered owner.
pub(crate) fn owners(conn: &Connection) -> rusqlite::Result<Vec<super::owner::OwnerRow>> {
    let mut stmt =
        conn.prepare_cached("SELECT owner, host, pid, started, heartbeat_at FROM spool_owners")?;
    stmt.query_map([], |r| {
        Ok(super::owner::OwnerRow {
            owner: r.get(0)?,
            host: r.get(1)?,
            pid: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            started: r.get(3)?,
            heartbeat_at: r.get(4)?,
        })
    })?
    .collect()
}

/// Takes over the rows of `owner`, judged gone with heartbeat `seen`: its claimed rows and
/// the rows it released for a later retry go back to the queue, due at `now`, without an
/// attempt counted; its registration is removed. Nothing happens if its heartbeat moved
/// since (it is alive after all). Returns (claimed rows taken, retries brought forward).
pub(crate) fn take_over(
    conn: &Connection,
    owner: &str,
    seen: i64,
    now: i64,
) -> rusqlite::Result<(usize, usize)> {
    let gone = conn
        .prepare_cached("DELETE FROM spool_owners WHERE owner = ?1 AND heartbeat_at = ?2")?
        .execute(params![owner, seen])?;
    if gone == 0 {
        return Ok((0, 0));
    }
    let claimed = conn
        .prepare_cached(
            "UPDATE spool SET state = 'queued', owner = NULL, lease_until = NULL,
                 next_attempt_at = max(?2, 1)
             WHERE owner = ?1 AND state = 'claimed'",
        )?
        .execute(params![owner, now])?;
    let retries = conn
        .prepare_cached(
            "UPDATE spool SET owner = NULL, next_attempt_at = min(next_attempt_at, max(?2, 1))
             WHERE owner = ?1 AND state = 'queued'",
        )?
        .execute(params![owner, now])?;
    Ok((claimed, retries))
}

/// Rows held claimed by `owner`.
pub(crate) fn held_by(conn: &Connection, owner: &str) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM spool WHERE owner = ?1 AND state = 'claimed'")?
        .query_row([owner], |r| r.get::<_, i64>(0))
        .map(u64_of)
}

/// The highest row id in the file, 0 when it is empty.
pub(crate) fn max_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT coalesce(max(id), 0) FROM spool")?
        .query_row([], |r| r.get(0))
}

/// Queued and claimed rows of `account` with an id of at most `upto`, and the creation time
/// of the oldest.
pub(crate) fn pending_of(
    conn: &Connection,
    account: &[u8],
    upto: i64,
) -> rusqlite::Result<(u64, Option<i64>)> {
    conn.prepare_cached(
        "SELECT count(*), min(created_at) FROM spool
         WHERE id <= ?2 AND state != 'failed' AND account = ?1",
    )?
    .query_row(params![account, upto], |r| {
        Ok((u64_of(r.get(0)?), r.get(1)?))
    })
}

/// The lowest queued or claimed row of `account` with an id in `from..=upto`: what a flush
/// still waits for. Scans by id from `from`, stepping over failed rows only (delivered rows
/// are gone).
pub(crate) fn first_pending(
    conn: &Connection,
    account: &[u8],
    from: i64,
    upto: i64,
) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT id FROM spool WHERE id >= ?2 AND id <= ?3 AND state != 'failed' AND account = ?1
         ORDER BY id LIMIT 1",
    )?
    .query_row(params![account, from, upto], |r| r.get(0))
    .optional()
}

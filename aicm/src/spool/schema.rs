//! Opening the file: refuse anything that is not a healthy aicm spool with a message naming the
//! path, set the journal and sync modes, create the tables.
//!
//! The layout: one row per record in `spool`; `spool_meta` holds per-state row counts and body
//! bytes, so that every process sharing the file enforces the same bounds in O(1) without
//! counting rows. Deletes and state changes keep it by triggers; inserts (made only by the
//! group-commit writer) add to it once per group, which saves a statement per record.
//!
//! Every page a transaction changes is one more write to the log, so the layout keeps them
//! few: no AUTOINCREMENT (its `sqlite_sequence` page would change at every commit; the
//! running total of appends lives in `spool_meta`, changed anyway). The writer gives a new row
//! the highest id plus one, or `fresh_from` if that is higher, so an id is reused only once
//! every newer row is gone: never while the row it named is still there (claimed or failed
//! rows keep theirs).
//!
//! Claims find rows two ways. A row never claimed (`next_attempt_at = 0`) is found by id: every
//! such row has an id of at least `spool_meta.fresh_from`, which claims move up and appends
//! never go below. Every other row that may be claimed is in `spool_due`, on `due_at` (a
//! virtual column): `next_attempt_at` for a queued row, `lease_until` for a claimed one, NULL
//! for a failed one. So rows whose retry time has come and rows whose owner's lease ran out
//! are one index range. An append of a generated response id writes no index page at all;
//! only given ids go into `spool_given`, the unique index that makes a re-append a no-op.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::error::SpoolError;
use super::options::SpoolOptions;

/// `PRAGMA application_id` of a spool: "aicm" in ASCII. Tells a spool from another
/// application's SQLite database.
pub(crate) const APPLICATION_ID: i64 = 0x6169_636d;

/// The page size of new spool files. A commit writes every page it changed to the log: a few
/// whatever their size (the header, `spool_meta`, the table's interior page, the last leaves
/// of the `response_id` index) plus the table leaves its rows fill. With 2 KiB pages a group
/// of 8 records of ~540 bytes wrote 11-12 pages to the log (8-9 since appends skip the due
/// index), and the rate measured ~10% higher on disk than with SQLite's default 4 KiB
/// (`cargo bench -p aicm-tests --bench spool_track`), while a record of up to ~2 KiB still
/// fits in one page.
const PAGE_SIZE: u32 = 2048;

/// The one layout (`PRAGMA user_version` = [`SCHEMA_VERSION`]): this, [`OWNERS`] and the
/// counters. The spool has not been
/// released, so there is no migration: versions 1 to 4 were development layouts, and a file
/// of one is refused with what to do (see [`check_identity`]). Once released, a change of
/// layout comes with its migration.
pub(super) const SCHEMA: &str = r#"
CREATE TABLE spool (
    id              INTEGER PRIMARY KEY,
    response_id     TEXT    NOT NULL,
    -- 1: a given response id, kept unique by `spool_given`; 0: generated, new by construction.
    given           INTEGER NOT NULL CHECK (given IN (0, 1)),
    body            BLOB    NOT NULL,
    config_id       TEXT    NOT NULL,
    -- The fingerprint of the account (API root and key) that stored the row; never the key.
    account         BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    state           TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'claimed', 'failed')),
    owner           TEXT,
    lease_until     INTEGER,
    -- 0: never claimed (found by id from `spool_meta.fresh_from`, not through `spool_due`).
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    last_status     INTEGER,
    failed_at       INTEGER,
    due_at          INTEGER GENERATED ALWAYS AS (
        CASE state WHEN 'queued' THEN next_attempt_at WHEN 'claimed' THEN lease_until END
    ) VIRTUAL
);
CREATE INDEX spool_due ON spool(due_at) WHERE due_at > 0;
CREATE UNIQUE INDEX spool_given ON spool(response_id) WHERE given = 1;
"#;

/// The owner registry (see the `owner` module), in every file of this layout; created at
/// open in a file made before it existed, so that it is part of the layout without a new
/// version.
pub(super) const OWNERS: &str = r#"
CREATE TABLE IF NOT EXISTS spool_owners (
    owner        TEXT    PRIMARY KEY,
    -- hostname, boot id and pid namespace: where `pid` means something.
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    -- The process's start time (/proc/<pid>/stat), NULL where it cannot be read.
    started      INTEGER,
    heartbeat_at INTEGER NOT NULL
) WITHOUT ROWID;
-- The rows an owner holds claimed, or released with a retry time: found at once when it dies.
-- Appended rows have no owner and stay out of it.
CREATE INDEX IF NOT EXISTS spool_owner ON spool(owner) WHERE owner IS NOT NULL;
"#;

/// The rest of the layout.
const LAYOUT_META: &str = r#"

CREATE TABLE spool_meta (
    k            INTEGER PRIMARY KEY CHECK (k = 1),
    queued       INTEGER NOT NULL,
    claimed      INTEGER NOT NULL,
    failed       INTEGER NOT NULL,
    live_bytes   INTEGER NOT NULL,
    failed_bytes INTEGER NOT NULL,
    appended     INTEGER NOT NULL,
    fresh_from   INTEGER NOT NULL
);
INSERT INTO spool_meta VALUES (1, 0, 0, 0, 0, 0, 0, 1);

CREATE TRIGGER spool_meta_delete AFTER DELETE ON spool BEGIN
    UPDATE spool_meta SET
        queued       = queued  - (OLD.state = 'queued'),
        claimed      = claimed - (OLD.state = 'claimed'),
        failed       = failed  - (OLD.state = 'failed'),
        live_bytes   = live_bytes   - iif(OLD.state = 'failed', 0, length(OLD.body)),
        failed_bytes = failed_bytes - iif(OLD.state = 'failed', length(OLD.body), 0)
    WHERE k = 1;
END;

CREATE TRIGGER spool_meta_state AFTER UPDATE OF state ON spool
WHEN OLD.state IS NOT NEW.state BEGIN
    UPDATE spool_meta SET
        queued       = queued  + (NEW.state = 'queued')  - (OLD.state = 'queued'),
        claimed      = claimed + (NEW.state = 'claimed') - (OLD.state = 'claimed'),
        failed       = failed  + (NEW.state = 'failed')  - (OLD.state = 'failed'),
        live_bytes   = live_bytes
                       + iif(NEW.state = 'failed', 0, length(NEW.body))
                       - iif(OLD.state = 'failed', 0, length(OLD.body)),
        failed_bytes = failed_bytes
                       + iif(NEW.state = 'failed', length(NEW.body), 0)
                       - iif(OLD.state = 'failed', length(OLD.body), 0)
    WHERE k = 1;
END;
"#;

/// The schema version this build writes and reads. Above every development layout's (1-4),
/// so that none of them is taken for this one.
pub(crate) const SCHEMA_VERSION: i64 = 5;

/// Which connection is being opened: the writer creates the tables, readers only check,
/// the checkpointer copies the log into the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Writer,
    Reader,
    Checkpointer,
}

/// Opens one connection to the spool at `path` and checks that it is a usable spool.
pub(crate) fn open_connection(
    path: &Path,
    options: &SpoolOptions,
    role: Role,
) -> Result<Connection, SpoolError> {
    let create = options.create && role == Role::Writer;
    precheck_file(path, create)?;
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| SpoolError::open(path, format!("cannot be opened: {e}")))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(|e| SpoolError::open(path, e.to_string()))?;
    // Every statement the writer runs stays prepared (there are about 25).
    conn.set_prepared_statement_cache_capacity(64);
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        return Err(SpoolError::open(
            path,
            "is read-only; the spool must be writable",
        ));
    }
    // The first statement that reads the file: anything that is not SQLite fails here.
    let _app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| describe_unreadable(path, &e))?;
    if role == Role::Writer {
        // Only a new, empty file takes it (before its journal mode is set); an existing spool
        // keeps the page size it was made with.
        conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE}"))
            .map_err(|e| describe_unreadable(path, &e))?;
    }
    set_wal(&conn, path, options.busy_timeout)?;
    // No automatic checkpoints: they would run inside a commit, with their fsyncs, and stall
    // every caller of that group. The checkpointer thread does them instead (checkpoint.rs).
    let pragmas = format!(
        "PRAGMA synchronous = {sync};
         PRAGMA wal_autocheckpoint = 0;
         PRAGMA journal_size_limit = 67108864;
         PRAGMA cache_size = -16384;
         PRAGMA temp_store = MEMORY;
         PRAGMA foreign_keys = OFF;",
        sync = options.durability.synchronous_pragma(),
    );
    conn.execute_batch(&pragmas)
        .map_err(|e| describe_unreadable(path, &e))?;
    match role {
        Role::Writer => {
            init_schema(&conn, path, options.busy_timeout)?;
            // The `state IN (...)` CHECK is compiled into every INSERT and UPDATE as an
            // ephemeral table built and torn down per row (a b-tree and a pager opened, three
            // entries, closed again): about a tenth of the writer's time per append. Every
            // state this connection writes is a literal in our own statements, so the check
            // guards against nothing here; it stays in the schema for anyone else.
            conn.execute_batch("PRAGMA ignore_check_constraints = ON")
                .map_err(|e| SpoolError::open(path, e.to_string()))?;
        }
        Role::Reader => {
            check_schema(&conn, path)?;
            conn.execute_batch("PRAGMA query_only = ON")
                .map_err(|e| SpoolError::open(path, e.to_string()))?;
        }
        Role::Checkpointer => check_schema(&conn, path)?,
    }
    if role == Role::Writer {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if size <= options.integrity_check_max_bytes {
            quick_check(&conn, path)?;
        } else {
            tracing::debug!(
                path = %path.display(),
                size,
                "spool larger than integrity_check_max_bytes: quick_check skipped at open"
            );
        }
    }
    Ok(conn)
}

/// Clear messages for what SQLite would report vaguely or not at all (as root, permission
/// bits do not stop SQLite; they do stop everyone else).
fn precheck_file(path: &Path, create: bool) -> Result<(), SpoolError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(SpoolError::open(
            path,
            "is a directory; the spool path names a file",
        )),
        Ok(meta) if !meta.is_file() => Err(SpoolError::open(path, "is not a regular file")),
        Ok(_) => {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path);
            match file {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    let readable = std::fs::File::open(path).is_ok();
                    Err(SpoolError::open(
                        path,
                        if readable {
                            "is read-only (permission denied for writing); the spool must be writable"
                        } else {
                            "cannot be read (permission denied)"
                        },
                    ))
                }
                Err(e) => Err(SpoolError::open(path, format!("cannot be opened: {e}"))),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if create {
                Ok(())
            } else {
                Err(SpoolError::NotFound {
                    path: path.to_owned(),
                })
            }
        }
        Err(e) => Err(SpoolError::open(path, format!("cannot be read: {e}"))),
    }
}

fn describe_unreadable(path: &Path, e: &rusqlite::Error) -> SpoolError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => SpoolError::open(
            path,
            format!("is not an SQLite database (or is encrypted or damaged): {e}"),
        ),
        Some(ErrorCode::DatabaseCorrupt) => SpoolError::open(path, format!("is corrupt: {e}")),
        Some(ErrorCode::ReadOnly) => SpoolError::open(path, format!("is read-only: {e}")),
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            SpoolError::open(path, format!("cannot be opened: {e}"))
        }
        _ => SpoolError::open(path, e.to_string()),
    }
}

/// Switches to write-ahead logging, which every process sharing the file relies on (readers
/// never block the writer). Another process may hold a lock for a moment: retried until
/// `busy_timeout`.
fn set_wal(conn: &Connection, path: &Path, busy_timeout: Duration) -> Result<(), SpoolError> {
    let deadline = Instant::now() + busy_timeout;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(SpoolError::open(
                    path,
                    format!(
                        "cannot use write-ahead logging (journal mode stays `{mode}`); \
                         the spool needs a local file system"
                    ),
                ));
            }
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(describe_unreadable(path, &e)),
        }
    }
}

/// Creates the tables in an empty file, accepts a spool of this schema, refuses anything else.
/// In one write transaction, so two processes opening a new file at once do not both create.
fn init_schema(conn: &Connection, path: &Path, busy_timeout: Duration) -> Result<(), SpoolError> {
    let fail = |e: rusqlite::Error| describe_unreadable(path, &e);
    let deadline = Instant::now() + busy_timeout;
    loop {
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => break,
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(fail(e)),
        }
    }
    let result = (|| {
        let (app_id, version, tables) = identity(conn).map_err(fail)?;
        if app_id == 0 && version == 0 && tables == 0 {
            conn.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))
                .map_err(fail)?;
            conn.execute_batch(SCHEMA).map_err(fail)?;
            conn.execute_batch(LAYOUT_META).map_err(fail)?;
            conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
                .map_err(fail)?;
            tracing::debug!(path = %path.display(), "spool created");
        } else {
            check_identity(path, app_id, version, tables)?;
        }
        conn.execute_batch(OWNERS).map_err(fail)?;
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(fail),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// A reader does not create anything: the file must already be a spool of this schema.
fn check_schema(conn: &Connection, path: &Path) -> Result<(), SpoolError> {
    let (app_id, version, tables) = identity(conn).map_err(|e| describe_unreadable(path, &e))?;
    check_identity(path, app_id, version, tables)
}

fn identity(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    let app_id = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let tables = conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        [],
        |r| r.get(0),
    )?;
    Ok((app_id, version, tables))
}

fn check_identity(path: &Path, app_id: i64, version: i64, tables: i64) -> Result<(), SpoolError> {
    if app_id != APPLICATION_ID {
        return Err(SpoolError::open(
            path,
            format!(
                "is an SQLite database of another application (application_id {app_id}, \
                 {tables} tables), not an aicm spool"
            ),
        ));
    }
    if version > SCHEMA_VERSION {
        return Err(SpoolError::open(
            path,
            format!(
                "was written by a newer aicm (schema version {version}; this build knows up to \
                 {SCHEMA_VERSION})"
            ),
        ));
    }
    if (1..SCHEMA_VERSION).contains(&version) {
        return Err(SpoolError::open(
            path,
            format!(
                "has the layout of an unreleased development build of aicm (schema version \
                 {version}; this build reads version {SCHEMA_VERSION} only): deliver its rows \
                 with the build that wrote it, or delete the file"
            ),
        ));
    }
    if version != SCHEMA_VERSION {
        return Err(SpoolError::open(
            path,
            format!("has an invalid schema version {version} ({tables} tables)"),
        ));
    }
    Ok(())
}

fn quick_check(conn: &Connection, path: &Path) -> Result<(), SpoolError> {
    let fail = |e: rusqlite::Error| describe_unreadable(path, &e);
    let mut stmt = conn.prepare("PRAGMA quick_check(5)").map_err(fail)?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(fail)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else {
        Err(SpoolError::open(
            path,
            format!("is corrupt (quick_check: {})", rows.join("; ")),
        ))
    }
}

//! A file that is not a healthy spool is an error naming it, never an empty queue.

use super::*;
use crate::spool::SpoolError;

/// The error's message, checked to name the path and to say `what`.
fn open_error(path: &Path, what: &str) -> SpoolError {
    let e = Spool::open(path, SpoolOptions::default()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "names the path: {text}"
    );
    assert!(text.contains(what), "says `{what}`: {text}");
    assert!(matches!(e, SpoolError::Open { .. }), "{e:?}");
    e
}

#[test]
fn garbage_is_refused_and_left_untouched() {
    let (_dir, path) = temp();
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    open_error(&path, "not an SQLite database");
    assert_eq!(std::fs::read(&path).unwrap(), garbage, "not overwritten");
}

#[test]
fn a_directory_is_refused() {
    let (dir, _) = temp();
    open_error(dir.path(), "is a directory");
}

#[test]
fn a_missing_parent_directory_is_refused() {
    let (dir, _) = temp();
    let path = dir.path().join("no/such/dir/usage.spool");
    open_error(&path, "cannot be opened");
}

#[test]
fn another_applications_database_is_refused_and_kept() {
    let (_dir, path) = temp();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY); INSERT INTO invoices VALUES (7);",
        )
        .unwrap();
    }
    open_error(&path, "another application");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM invoices", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    let spool_tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'spool'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        spool_tables, 0,
        "no spool table added to a foreign database"
    );
}

#[test]
fn a_spool_from_a_newer_version_is_refused() {
    let (_dir, path) = temp();
    drop(open(&path, |_| {}));
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    open_error(&path, "newer aicm");
}

/// The spool has one schema: a file of a development layout (versions 1 to 4, each made by
/// an unreleased build) is refused, naming the path and what to do, never migrated nor
/// taken for the current one; the file is left as it was.
#[test]
fn a_spool_of_an_older_development_schema_is_refused_with_what_to_do() {
    for version in 1..crate::spool::schema::SCHEMA_VERSION {
        let (_dir, path) = temp();
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA application_id = {};
                 CREATE TABLE spool (id INTEGER PRIMARY KEY, response_id TEXT NOT NULL UNIQUE,
                                     body BLOB NOT NULL);
                 INSERT INTO spool VALUES (1, 'r0', x'7b7d');
                 PRAGMA user_version = {version};",
                crate::spool::schema::APPLICATION_ID
            ))
            .unwrap();
        }
        let text = open_error(&path, "development build").to_string();
        assert!(
            text.contains(&format!("schema version {version}")),
            "{text}"
        );
        assert!(
            text.contains("deliver its rows with the build that wrote it, or delete the file"),
            "{text}"
        );
        let conn = rusqlite::Connection::open(&path).unwrap();
        let (version_after, rows): (i64, i64) = (
            conn.query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap(),
            conn.query_row("SELECT count(*) FROM spool", [], |r| r.get(0))
                .unwrap(),
        );
        assert_eq!((version_after, rows), (version, 1), "left as it was");
    }
}

#[test]
fn a_new_spool_has_the_one_schema() {
    let (_dir, path) = temp();
    drop(open(&path, |_| {}));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, crate::spool::schema::SCHEMA_VERSION);
    let mut columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_xinfo('spool')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    columns.sort();
    assert!(columns.contains(&"account".to_owned()), "{columns:?}");
    let mut indexes: Vec<String> = conn
        .prepare("SELECT name FROM pragma_index_list('spool')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    indexes.sort();
    assert_eq!(indexes, ["spool_due", "spool_given", "spool_owner"]);
    let owners: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'spool_owners'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(owners, 1, "the owner registry");
    drop(conn);
    // Reopening finds it as it is.
    drop(open(&path, |_| {}));
}

#[test]
fn a_corrupt_spool_is_refused() {
    let (_dir, path) = temp();
    {
        let spool = open(&path, |_| {});
        for i in 0..400 {
            let mut b = body(i);
            b.extend(std::iter::repeat_n(b'p', 400));
            spool.append(b, &rid(i), "cfg").unwrap();
        }
    }
    // Fold the log into the file, then scribble over its middle pages.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 16 * 4096, "file of {} bytes", bytes.len());
    for b in &mut bytes[4096 * 3..4096 * 12] {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let e = Spool::open(&path, SpoolOptions::default()).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, SpoolError::Open { .. }), "{e:?}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(
        text.contains("corrupt") || text.contains("malformed"),
        "{text}"
    );
}

#[test]
fn without_create_a_missing_spool_is_not_found() {
    let (_dir, path) = temp();
    let e = Spool::open(
        &path,
        options(|o| {
            o.create = false;
        }),
    )
    .unwrap_err();
    assert_eq!(e, SpoolError::NotFound { path: path.clone() });
    assert!(!path.exists(), "nothing created");
}

#[test]
fn an_empty_file_becomes_a_spool() {
    // A zero-length file holds no records; making it a spool loses nothing.
    let (_dir, path) = temp();
    std::fs::write(&path, b"").unwrap();
    let spool = open(&path, |_| {});
    spool.append(body(1), "r1", "cfg").unwrap();
}

/// Read-only and unreadable files, by permission bits (Unix).
#[cfg(unix)]
mod permissions {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;

    use super::super::processes::{child_command_of, role};
    use super::*;

    /// Permission bits do not stop root, so as root the check runs
    /// in a child process with the `nobody` user.
    #[test]
    fn read_only_and_unreadable_files_are_refused() {
        let (dir, path) = temp();
        drop(open(&path, |_| {}));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let unreadable = dir.path().join("unreadable.spool");
        std::fs::copy(&path, &unreadable).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
        let privileged = std::fs::OpenOptions::new().write(true).open(&path).is_ok();
        let messages: Vec<String> = if privileged {
            // The build directory may be closed to other users: run a copy of this binary.
            let exe = dir.path().join("child-test-binary");
            std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
            let mut cmd = child_command_of(
                &exe,
                "spool::tests::open_errors::permissions::open_readonly_child",
                "open_readonly",
                &path,
            );
            cmd.env("AICM_SPOOL_CHILD_OTHER", &unreadable)
                .uid(65534)
                .gid(65534);
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("ERROR ").map(str::to_owned))
                .collect()
        } else {
            [&path, &unreadable]
                .iter()
                .map(|p| {
                    Spool::open(p, SpoolOptions::default())
                        .unwrap_err()
                        .to_string()
                })
                .collect()
        };
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains(&path.display().to_string()));
        assert!(messages[0].contains("read-only"), "{}", messages[0]);
        assert!(messages[1].contains(&unreadable.display().to_string()));
        assert!(messages[1].contains("cannot be read"), "{}", messages[1]);
    }

    /// Child role: open both files given and print each error.
    #[test]
    fn open_readonly_child() {
        let Some(path) = role("open_readonly") else {
            return;
        };
        let other = std::env::var_os("AICM_SPOOL_CHILD_OTHER").unwrap();
        for p in [path, PathBuf::from(other)] {
            match Spool::open(&p, SpoolOptions::default()) {
                Ok(_) => println!("OPENED {}", p.display()),
                Err(e) => println!("ERROR {e}"),
            }
        }
    }
}

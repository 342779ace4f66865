//! The file's page size: new spools get the spool's own, existing ones keep theirs.

use super::*;

/// A spool with one row, closed again.
fn spool_with_one_row() -> (tempfile::TempDir, PathBuf) {
    let (dir, path) = temp();
    let spool = open(&path, |_| {});
    spool.append(body(1), &rid(1), "cfg").unwrap();
    drop(spool);
    (dir, path)
}

fn page_size(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_new_spool_is_made_with_2_kib_pages() {
    let (_dir, path) = spool_with_one_row();
    assert_eq!(page_size(&path), 2048);
}

#[test]
fn an_existing_spool_keeps_its_page_size_and_its_rows() {
    let (_dir, path) = spool_with_one_row();
    // Rewrite the file with 4 KiB pages, as spools made before the page size was set are.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096; VACUUM; PRAGMA journal_mode = WAL;",
    )
    .unwrap();
    drop(conn);
    assert_eq!(page_size(&path), 4096);

    let spool = open(&path, |_| {});
    spool.append(body(2), &rid(2), "cfg").unwrap();
    assert_eq!(spool.stats().unwrap().queued, 2);
    drop(spool);
    assert_eq!(page_size(&path), 4096);
}

//! The `aicm-spool` binary, run as a user would, on spools this test fills through the library
//! (which is another process from the binary's point of view).
// The helpers below run only inside tests, where a failure should panic.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aicm::spool::{Spool, SpoolOptions};
use aicm::testing::SpoolRows;

const LEASE: Duration = Duration::from_secs(600);

fn cli(path: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aicm-spool"))
        .arg("--spool")
        .arg(path)
        .args(args)
        .env_remove("AICM_SPOOL_PATH")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn body(i: usize) -> Vec<u8> {
    format!("{{\"response_id\":\"r{i}\",\"usage\":{{\"tokens\":{i}}}}}").into_bytes()
}

/// A spool with 5 rows: r0 and r1 failed (422 and 400), r2 claimed, r3 and r4 queued.
fn filled() -> (tempfile::TempDir, PathBuf, Spool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.spool");
    let spool = Spool::open(&path, SpoolOptions::default()).unwrap();
    let access = SpoolRows::new(&spool);
    for i in 0..5 {
        access.append(body(i), &format!("r{i}"), "cfg").unwrap();
    }
    let rows = access.claim("app", 3, LEASE).unwrap();
    access
        .fail(
            "app",
            &[rows[0].id],
            Some(422),
            "usage.tokens: expected int",
        )
        .unwrap();
    access
        .fail("app", &[rows[1].id], Some(400), "bad request")
        .unwrap();
    (dir, path, spool)
}

#[test]
fn stats_as_text_and_json() {
    let (_dir, path, _spool) = filled();
    let text = stdout(&cli(&path, &["stats"]));
    assert!(text.contains("depth     3 (2 queued, 1 claimed)"), "{text}");
    assert!(text.contains("failed    2"), "{text}");
    assert!(text.contains("appended  5"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&cli(&path, &["stats", "--json"]))).unwrap();
    assert_eq!(json["queued"], 2);
    assert_eq!(json["claimed"], 1);
    assert_eq!(json["depth"], 3);
    assert_eq!(json["failed"], 2);
    assert_eq!(json["appended_total"], 5);
    assert!(json["oldest_age_ms"].is_u64());
    assert_eq!(json["path"], path.display().to_string());
}

#[test]
fn list_failed_shows_the_servers_reason() {
    let (_dir, path, _spool) = filled();
    let text = stdout(&cli(&path, &["list-failed", "--body"]));
    assert!(text.contains("422"), "{text}");
    assert!(text.contains("usage.tokens: expected int"), "{text}");
    assert!(
        text.contains("{\"response_id\":\"r1\""),
        "bodies shown: {text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&cli(&path, &["list-failed", "--json"]))).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["response_id"], "r0");
    assert_eq!(rows[0]["last_status"], 422);
    assert_eq!(rows[0]["attempts"], 1);
    assert_eq!(
        rows[1]["body"]["usage"]["tokens"], 1,
        "body embedded as JSON"
    );
    // Paging.
    let first = rows[0]["id"].as_i64().unwrap().to_string();
    let page: serde_json::Value = serde_json::from_str(&stdout(&cli(
        &path,
        &["list-failed", "--json", "--after", &first],
    )))
    .unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    let limited = stdout(&cli(&path, &["list-failed", "--limit", "1"]));
    assert!(limited.contains("more with --after"), "{limited}");
}

#[test]
fn requeue_and_purge_by_id_or_all() {
    let (_dir, path, spool) = filled();
    let failed = spool.list_failed(10).unwrap();
    let id0 = failed[0].id.to_string();
    let text = stdout(&cli(&path, &["requeue", &id0, "999"]));
    assert!(
        text.contains("requeued 1 failed row (1 of the given ids are not failed rows)"),
        "{text}"
    );
    let s = spool.stats().unwrap();
    assert_eq!((s.failed, s.queued), (1, 3));
    let text = stdout(&cli(&path, &["purge", "--all"]));
    assert!(text.contains("purged 1 failed row"), "{text}");
    assert_eq!(spool.stats().unwrap().failed, 0);
    assert!(stdout(&cli(&path, &["list-failed"])).contains("no failed rows"));
    // The requeued row is claimable again, with a fresh budget.
    let again = SpoolRows::new(&spool).claim("app2", 10, LEASE).unwrap();
    assert!(
        again
            .iter()
            .any(|r| r.response_id == "r0" && r.attempts == 0)
    );
}

#[test]
fn requeue_needs_ids_or_all_but_not_both() {
    let (_dir, path, spool) = filled();
    for args in [&["requeue"][..], &["purge", "--all", "1"][..]] {
        let o = cli(&path, args);
        assert_eq!(o.status.code(), Some(2), "{args:?} is a usage error");
    }
    assert_eq!(spool.stats().unwrap().failed, 2, "nothing changed");
}

#[test]
fn a_missing_or_bad_spool_is_an_error_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo.spool");
    let o = cli(&missing, &["stats"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no spool at") && err.contains("typo.spool"),
        "{err}"
    );
    assert!(!missing.exists());

    let garbage = dir.path().join("garbage.spool");
    std::fs::write(&garbage, vec![0xabu8; 4096]).unwrap();
    let o = cli(&garbage, &["stats"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("garbage.spool") && err.contains("not an SQLite database"),
        "{err}"
    );

    let o = Command::new(env!("CARGO_BIN_EXE_aicm-spool"))
        .arg("stats")
        .env_remove("AICM_SPOOL_PATH")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("AICM_SPOOL_PATH"));
}

#[test]
fn the_path_may_come_from_the_environment() {
    let (_dir, path, _spool) = filled();
    let o = Command::new(env!("CARGO_BIN_EXE_aicm-spool"))
        .args(["stats", "--json"])
        .env("AICM_SPOOL_PATH", &path)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["depth"], 3);
}

#[test]
fn tail_prints_a_line_per_refresh_when_not_on_a_terminal() {
    let (_dir, path, _spool) = filled();
    let text = stdout(&cli(&path, &["tail", "--count", "3", "--interval", "10"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("depth 3 (queued 2, claimed 1), failed 2"),
        "{text}"
    );
    assert!(
        lines[0].contains("in - /s"),
        "no rate before a second snapshot"
    );
    assert!(lines[2].contains("in 0/s, out 0/s"), "{text}");
}

/// The CLI works while an application appends, claims and acknowledges on the same file.
#[test]
fn works_while_another_process_writes() {
    let (_dir, path, spool) = filled();
    let spool = Arc::new(spool);
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let (spool, stop) = (spool.clone(), stop.clone());
        std::thread::spawn(move || {
            let rows = SpoolRows::new(&spool);
            let mut i = 100;
            while !stop.load(Ordering::Relaxed) {
                rows.append(body(i), &format!("r{i}"), "cfg").unwrap();
                if i % 10 == 0 {
                    let ids: Vec<i64> = rows
                        .claim("app", 5, LEASE)
                        .unwrap()
                        .iter()
                        .map(|r| r.id)
                        .collect();
                    rows.ack("app", &ids).unwrap();
                }
                i += 1;
            }
            i - 100
        })
    };
    for _ in 0..3 {
        let json: serde_json::Value =
            serde_json::from_str(&stdout(&cli(&path, &["stats", "--json"]))).unwrap();
        assert!(json["appended_total"].as_u64().unwrap() >= 5);
        stdout(&cli(&path, &["tail", "--count", "2", "--interval", "20"]));
        stdout(&cli(&path, &["requeue", "--all"]));
    }
    stop.store(true, Ordering::Relaxed);
    let appended = busy.join().unwrap();
    assert!(appended > 0);
    assert_eq!(
        spool.stats().unwrap().failed,
        0,
        "requeued while the app wrote"
    );
}

// --- deliver -----------------------------------------------------------------------------

/// A private AICM.INI path for one test.
fn temp_ini(dir: &Path) -> PathBuf {
    dir.join("AICM.INI")
}

/// Tracks `usages` into the spool at `path` while `api` stalls and closes: the rows stay in
/// the file for `deliver`.
fn leave_rows(
    api: &aicm_tests::LocalApiThread,
    path: &Path,
    ini: &Path,
    usages: &[serde_json::Value],
) {
    api.set_stall(true);
    let tracker = aicm::Tracker::track_api()
        .api_key(api.api_key())
        .api_base(api.api_base())
        .ini_path(ini)
        .spool(path)
        .close_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    for usage in usages {
        tracker
            .track_with(
                usage.clone(),
                aicm::TrackOptions::for_service("openai::gpt-5-mini"),
            )
            .unwrap();
    }
    assert!(tracker.close().is_err(), "the stalled API took nothing");
    drop(tracker);
    // The stopped loop hands its claimed rows back to the file; only then may the API answer,
    // or the request it holds could still be acknowledged and its rows deleted.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stats = Spool::open(path, SpoolOptions::default())
            .unwrap()
            .stats()
            .unwrap();
        if stats.claimed == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "rows stay claimed: {stats:?}"
        );
        std::thread::yield_now();
    }
    api.set_stall(false);
}

fn deliver(api: &aicm_tests::LocalApiThread, path: &Path, ini: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aicm-spool"))
        .args(["--spool"])
        .arg(path)
        .args(["deliver", "--timeout", "30"])
        .env_remove("AICM_SPOOL_PATH")
        .env_remove("AICM_PROTOCOL")
        .env("AICM_API_KEY", api.api_key())
        .env("AICM_API_BASE", api.api_base())
        .env("AICM_INI_PATH", ini)
        .output()
        .unwrap()
}

#[test]
fn deliver_sends_what_the_file_holds_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.spool");
    let ini = temp_ini(dir.path());
    let api = aicm_tests::LocalApi::builder().start_in_thread().unwrap();
    let usages: Vec<serde_json::Value> = (0..40)
        .map(|i| serde_json::json!({"input_tokens": i, "output_tokens": 1}))
        .collect();
    leave_rows(&api, &path, &ini, &usages);
    let depth = Spool::open(&path, SpoolOptions::default())
        .unwrap()
        .stats()
        .unwrap()
        .depth();
    assert_eq!(depth, 40);

    let o = deliver(&api, &path, &ini);
    let text = stdout(&o);
    assert!(text.contains("delivering up to 40 record(s)"), "{text}");
    assert!(text.contains("delivered 40 record(s), 0 failed"), "{text}");
    assert!(!text.contains(&api.api_key()), "{text}");
    assert_eq!(api.stats().records_stored, 40);
    let s = Spool::open(&path, SpoolOptions::default())
        .unwrap()
        .stats()
        .unwrap();
    assert_eq!((s.depth(), s.failed), (0, 0));
}

#[test]
fn deliver_exits_2_with_the_count_of_what_could_not_be_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.spool");
    let ini = temp_ini(dir.path());
    let api = aicm_tests::LocalApi::builder().start_in_thread().unwrap();
    let mut usages: Vec<serde_json::Value> = (0..10)
        .map(|i| serde_json::json!({"input_tokens": i}))
        .collect();
    usages.push(serde_json::json!({"poison": true}));
    usages.push(serde_json::json!({"poison": true, "n": 2}));
    leave_rows(&api, &path, &ini, &usages);
    api.set_poison_key(Some("poison"));

    let o = deliver(&api, &path, &ini);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("delivered 10 record(s), 2 failed"), "{text}");
    assert!(text.contains("aicm-spool list-failed"), "{text}");
    assert!(
        err.contains("2 record(s) not delivered: 0 still pending, 2 failed"),
        "{err}"
    );
    assert!(!err.contains(&api.api_key()), "{err}");
    assert_eq!(api.stats().records_stored, 10);
    let spool = Spool::open(&path, SpoolOptions::default()).unwrap();
    assert_eq!(spool.stats().unwrap().failed, 2);
}

#[test]
fn deliver_without_a_key_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.spool");
    drop(Spool::open(&path, SpoolOptions::default()).unwrap());
    let o = Command::new(env!("CARGO_BIN_EXE_aicm-spool"))
        .arg("--spool")
        .arg(&path)
        .arg("deliver")
        .env_remove("AICM_API_KEY")
        .env("AICM_INI_PATH", temp_ini(dir.path()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("aicm-spool: error: cannot deliver:"), "{err}");
}

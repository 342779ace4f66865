//! Several processes on one spool: disjoint claims while leases are live, takeover only after a
//! lease ends, and no acknowledged append lost when the appending process is SIGKILLed.
//!
//! The test binary runs itself as the child, with `--exact <child test>`; the child test does
//! nothing unless `AICM_SPOOL_CHILD_ROLE` names its role.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

use super::*;

const ROLE: &str = "AICM_SPOOL_CHILD_ROLE";
const PATH: &str = "AICM_SPOOL_CHILD_PATH";

/// A command running `test` of this binary as a child in `role` on the spool at `path`.
pub(super) fn child_command(test: &str, role: &str, path: &Path) -> Command {
    child_command_of(&std::env::current_exe().unwrap(), test, role, path)
}

/// [`child_command`] running the test binary at `exe` (a copy another user may execute).
pub(super) fn child_command_of(exe: &Path, test: &str, role: &str, path: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE, role)
        .env(PATH, path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// In a child running `role`: the spool path. Elsewhere `None` (the test returns at once).
pub(super) fn role(name: &str) -> Option<PathBuf> {
    if std::env::var(ROLE).ok()? != name {
        return None;
    }
    std::env::var_os(PATH).map(PathBuf::from)
}

fn spawn(test: &str, role: &str, path: &Path) -> (Child, BufReader<ChildStdout>) {
    let mut child = child_command(test, role, path).spawn().unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

/// Reads lines until one starts with `prefix`; returns the lines seen before it.
fn read_until(out: &mut BufReader<ChildStdout>, prefix: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child ended before `{prefix}`; it said {seen:?}"
        );
        if line.starts_with(prefix) {
            return seen;
        }
        seen.push(line.trim_end().to_owned());
    }
}

fn random_below(n: u64) -> u64 {
    u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap()) % n
}

const CLAIMER: &str = "spool::tests::processes::claimer_child";

#[test]
fn two_live_processes_never_claim_the_same_row() {
    let (_dir, path) = temp();
    let total = 3000;
    let all: HashSet<i64> = {
        let spool = open(&path, |_| {});
        (0..total)
            .map(|i| spool.append(body(i), &rid(i), "cfg").unwrap().id)
            .collect()
    };
    let mut children: Vec<_> = (0..2).map(|_| spawn(CLAIMER, "claimer", &path)).collect();
    for (_, out) in &mut children {
        read_until(out, "READY");
    }
    // Start both at once.
    for (child, _) in &mut children {
        writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    }
    let mut claimed: Vec<HashSet<i64>> = Vec::new();
    let mut acked = HashSet::new();
    for (child, out) in &mut children {
        let mut mine = HashSet::new();
        for line in read_until(out, "DONE") {
            let mut words = line.split_whitespace();
            let (Some(kind), Some(id)) = (words.next(), words.next()) else {
                continue;
            };
            let id: i64 = id.parse().unwrap();
            match kind {
                "CLAIMED" => assert!(mine.insert(id), "claimed twice by one process"),
                "ACKED" => assert!(acked.insert(id)),
                _ => {}
            }
        }
        assert!(child.wait().unwrap().success());
        claimed.push(mine);
    }
    println!(
        "claims: {} and {} of {total}",
        claimed[0].len(),
        claimed[1].len()
    );
    assert!(
        claimed[0].is_disjoint(&claimed[1]),
        "a row was claimed by both processes"
    );
    let union: HashSet<i64> = claimed[0].union(&claimed[1]).copied().collect();
    assert_eq!(union, all, "every row claimed by exactly one process");
    // What was not acknowledged is still held (leases live) by its claimer.
    let spool = open(&path, |_| {});
    let s = spool.stats().unwrap();
    assert_eq!(s.claimed as usize, total - acked.len());
    assert!(
        spool
            .claim("parent", 10_000, Duration::from_secs(1))
            .unwrap()
            .is_empty()
    );
    assert_meta_matches_rows(&path);
}

/// Child role: wait for "go", claim batches with a long lease until none is left, acknowledge
/// every other batch.
#[test]
fn claimer_child() {
    let Some(path) = role("claimer") else {
        return;
    };
    let spool = open(&path, |_| {});
    let owner = Spool::new_owner();
    println!("READY");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    let mut batch = 0;
    loop {
        let rows = spool.claim(&owner, 25, Duration::from_secs(600)).unwrap();
        if rows.is_empty() {
            break;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        for id in &ids {
            println!("CLAIMED {id}");
        }
        if batch % 2 == 0 {
            assert_eq!(spool.ack(&owner, &ids).unwrap(), ids.len());
            for id in &ids {
                println!("ACKED {id}");
            }
        }
        batch += 1;
    }
    println!("DONE");
}

const HOLDER: &str = "spool::tests::processes::holder_child";

#[test]
fn a_dead_processes_rows_are_taken_over_only_after_its_lease() {
    let (_dir, path) = temp();
    {
        let spool = open(&path, |_| {});
        append_rows(&spool, 0..100);
    }
    let (mut child, mut out) = spawn(HOLDER, "holder", &path);
    let held: HashSet<i64> = read_until(&mut out, "HOLDING")
        .iter()
        .filter_map(|l| l.strip_prefix("CLAIMED "))
        .map(|id| id.parse().unwrap())
        .collect();
    assert_eq!(held.len(), 60);
    child.kill().unwrap(); // SIGKILL: no chance to release anything
    child.wait().unwrap();

    // The lease is 30 s of the real clock; step a manual clock across it instead of waiting.
    let clock = ManualClock::new();
    clock.0.store(
        super::super::clock::to_ms(std::time::SystemTime::now()),
        Ordering::SeqCst,
    );
    let spool = open_at(&path, &clock, |_| {});
    let free = spool.claim("new", 1000, Duration::from_secs(600)).unwrap();
    assert_eq!(
        free.len(),
        40,
        "only the rows the dead process did not hold"
    );
    assert!(free.iter().all(|r| !held.contains(&r.id)));
    clock.advance(Duration::from_secs(31));
    let taken: HashSet<i64> = spool
        .claim("new", 1000, Duration::from_secs(30))
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    // The 40 "new" claimed are its own and still leased; the dead process's 60 are free now.
    assert_eq!(taken, held);
}

/// Child role: claim 60 rows with a 30 s lease, say so, then wait to be killed.
#[test]
fn holder_child() {
    let Some(path) = role("holder") else {
        return;
    };
    let spool = open(&path, |_| {});
    let rows = spool
        .claim(&Spool::new_owner(), 60, Duration::from_secs(30))
        .unwrap();
    for r in &rows {
        println!("CLAIMED {}", r.id);
    }
    println!("HOLDING");
    // Block until the parent kills us (or goes away and closes our stdin).
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

const APPENDER: &str = "spool::tests::processes::appender_child";

/// SIGKILL at a random moment while four threads append: every append that returned `Ok`
/// before the kill is in the spool afterwards, body intact. Three rounds on one file.
#[test]
fn every_acknowledged_append_survives_sigkill() {
    let (_dir, path) = temp();
    let mut printed: HashMap<i64, String> = HashMap::new();
    for round in 0..3 {
        let (mut child, mut out) = spawn(APPENDER, "appender", &path);
        read_until(&mut out, "READY");
        let kill_after = 1 + random_below(3000) as usize;
        let mut lines = Vec::new();
        let mut line = String::new();
        while lines.len() < kill_after {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
            lines.push(line.trim_end().to_owned());
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Lines it printed before dying are still in the pipe: those appends returned Ok too.
        for rest in out.lines() {
            lines.push(rest.unwrap());
        }
        let mut n = 0;
        for l in &lines {
            // A line cut off by the kill has no trailing "END" and is not counted.
            let words: Vec<&str> = l.split_whitespace().collect();
            if let ["OK", id, response_id, "END"] = words[..] {
                printed.insert(id.parse().unwrap(), response_id.to_owned());
                n += 1;
            }
        }
        println!("round {round}: killed after {kill_after} lines, {n} acknowledged appends");
        assert!(n >= kill_after.min(lines.len()) - 1);

        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare("SELECT response_id, body FROM spool WHERE id = ?1")
            .unwrap();
        for (id, response_id) in &printed {
            let (stored_rid, stored_body): (String, Vec<u8>) = stmt
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap_or_else(|e| panic!("acknowledged row {id} lost: {e}"));
            assert_eq!(&stored_rid, response_id);
            assert_eq!(stored_body, appender_body(response_id));
        }
        drop(stmt);
        drop(conn);
        // The file reopens as a healthy spool (quick_check runs at open).
        let spool = open(&path, |o| o.max_rows = None);
        assert!(spool.stats().unwrap().queued >= printed.len() as u64);
        assert_meta_matches_rows(&path);
    }
}

fn appender_body(response_id: &str) -> Vec<u8> {
    format!(
        "{{\"response_id\":\"{response_id}\",\"usage\":{{\"tokens\":42}},\"pad\":\"{:0>180}\"}}",
        0
    )
    .into_bytes()
}

/// Child role: four threads append until killed, printing each row after `append` returned Ok.
#[test]
fn appender_child() {
    let Some(path) = role("appender") else {
        return;
    };
    let spool = Arc::new(open(&path, |o| o.max_rows = None));
    let run = uuid::Uuid::new_v4().simple().to_string();
    println!("READY");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (spool, run) = (spool.clone(), run.clone());
            std::thread::spawn(move || {
                // Bounded, in case the parent never kills us.
                for i in 0..200_000 {
                    let response_id = format!("{run}-{t}-{i}");
                    let id = spool
                        .append(appender_body(&response_id), &response_id, "cfg")
                        .unwrap()
                        .id;
                    println!("OK {id} {response_id} END");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

//! Background compaction threads run at `Options::compaction_nice` on Linux, and the threads
//! that write (the caller's, the flush thread) keep the process's priority.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata::{Db, Options};

/// The nice value of each of this process's threads named `name`, from `/proc`.
fn nice_of_threads(name: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else { continue };
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        // Fields after the command (which ends at the last ')'): state is field 3, nice 19.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        found.push(after.split(' ').nth(16).unwrap().parse().unwrap());
    }
    found
}

fn own_nice() -> i32 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(16).unwrap().parse().unwrap()
}

#[test]
fn compaction_threads_take_the_configured_nice_value_and_writers_keep_theirs() {
    let base = own_nice();
    for nice in [7, 0] {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options { compaction_nice: nice, ..Options::default() }).unwrap();
        db.put("k", "v").unwrap();
        // The threads set their priority, and their names, as they start; wait until all
        // three have (on a busy machine the flush thread may not have run yet). A process
        // already running at a higher nice value keeps it.
        let want = base.max(nice);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            // Linux keeps 15 bytes of a thread's name: both are "strata-compact-".
            let seen = nice_of_threads("strata-compact-");
            let flush = nice_of_threads("strata-flush");
            if seen.len() == 2 && seen.iter().all(|&n| n == want) && flush.len() == 1 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "compaction threads at {seen:?}, want {want}; flush thread at {flush:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(nice_of_threads("strata-flush"), vec![base], "the flush thread keeps the process's priority");
        assert_eq!(own_nice(), base, "the caller's thread is untouched");
        db.close().unwrap();
    }
}

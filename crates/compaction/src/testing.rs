//! The conformance suite of [`CompactionPolicy`]: what every policy must do.
//!
//! A user's policy runs it with one line in a test:
//!
//! ```
//! strata_compaction::testing::conformance(&strata_compaction::Leveled::default());
//! ```
//!
//! The suite drives the policy through long random histories of flushes on a simulated tree
//! (no I/O; see [`crate::sim`]), running some tasks at once and leaving others in flight
//! (their inputs in [`LevelState::compacting`]) while it asks for more, now and then asks
//! for a task for reads ([`CompactionPolicy::pick_for_reads`]), and checks every task it
//! gets. It panics, naming the policy, the task and the broken promise, on the first
//! violation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "test support: its checks panic on a broken promise, as a test does"
)]

use std::collections::HashSet;

use crate::sim::{SplitMix64, Tree};
use crate::state::key_hull;
use crate::{CompactionPolicy, CompactionTask, LevelState, TableMeta, TaskKind};

/// Runs every check against `policy`. Panics on the first broken promise.
pub fn conformance<P: CompactionPolicy>(policy: &P) {
    picks_nothing_on_an_empty_state(policy);
    for seed in 0..12 {
        random_history(policy, seed);
    }
}

fn picks_nothing_on_an_empty_state<P: CompactionPolicy>(policy: &P) {
    let name = policy.name();
    assert!(policy.pick(&LevelState::default()).is_none(), "{name}: picked a task on a state without levels");
    let empty = LevelState { levels: vec![Vec::new(); policy.num_levels().max(1)], ..LevelState::default() };
    assert!(policy.pick(&empty).is_none(), "{name}: picked a task on a state with empty levels");
    assert!(policy.num_levels() >= 1, "{name}: num_levels() must count L0");
}

/// Flushes tables of random ranges and sizes (each 1–64 MiB), picks until the policy is
/// satisfied, and checks each task; about half the tasks stay in flight for a while.
fn random_history<P: CompactionPolicy>(policy: &P, seed: u64) {
    const KEY_SPACE: u64 = 1_000_000;
    let mut rng = SplitMix64(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED);
    let mut tree = Tree::new(1024);
    let mut running: Vec<CompactionTask> = Vec::new();
    let flushes = 60 + rng.below(140);
    for _ in 0..flushes {
        let spread = 1 + rng.below(50);
        let width = 1 + rng.below(KEY_SPACE / spread);
        let lo = rng.below(KEY_SPACE - width + 1);
        let keys = (1 + rng.below(64 * 1024)).min(width) as f64;
        tree.flush(lo, lo + width - 1, keys, keys as u64);
        tree.state.now_ms += 1 + rng.below(60_000);
        for _ in 0..1000 {
            let Some(task) = policy.pick(&tree.state) else { break };
            check_task(policy, &tree.state, &task, &running);
            if rng.below(2) == 0 {
                tree.state.compacting.extend(task.input_ids());
                running.push(task);
            } else {
                tree.apply(&task);
                check_shape(policy, &tree.state, &task);
            }
        }
        // Now and then reads ask for a task of their own while the tree is in shape.
        if rng.below(3) == 0
            && policy.pick(&tree.state).is_none()
            && let Some(task) = policy.pick_for_reads(&tree.state)
        {
            check_task(policy, &tree.state, &task, &running);
            tree.state.compacting.extend(task.input_ids());
            running.push(task);
        }
        // Finish some tasks in flight, in any order.
        while !running.is_empty() && rng.below(3) != 0 {
            let task = running.swap_remove(rng.below(running.len() as u64) as usize);
            tree.apply(&task);
            check_shape(policy, &tree.state, &task);
        }
    }
    for task in running.drain(..) {
        tree.apply(&task);
        check_shape(policy, &tree.state, &task);
    }
    let mut settled = false;
    for _ in 0..100_000 {
        let Some(task) = policy.pick(&tree.state) else {
            settled = true;
            break;
        };
        check_task(policy, &tree.state, &task, &[]);
        tree.apply(&task);
        check_shape(policy, &tree.state, &task);
    }
    assert!(settled, "{}: kept picking tasks without end (seed {seed})", policy.name());
}

/// Checks one task against the state it was picked from and the tasks still running.
fn check_task<P: CompactionPolicy>(policy: &P, state: &LevelState, task: &CompactionTask, running: &[CompactionTask]) {
    let fail = |what: String| -> ! { panic!("{}: {what}\n  task: {task:?}", policy.name()) };
    if task.input_count() == 0 {
        fail("a task without inputs".into());
    }
    let mut seen = HashSet::new();
    let mut inputs: Vec<(usize, &TableMeta)> = Vec::new();
    for (level, ids) in &task.inputs {
        if ids.is_empty() {
            fail(format!("an empty input list for level {level}"));
        }
        for &id in ids {
            if !seen.insert(id) {
                fail(format!("table {id} listed twice"));
            }
            if state.is_compacting(id) {
                fail(format!("picked table {id}, which is compacting"));
            }
            match state.level(*level).iter().find(|t| t.id == id) {
                Some(t) => inputs.push((*level, t)),
                None => fail(format!("table {id} is not in level {level}")),
            }
        }
    }
    if task.kind != TaskKind::Drop && task.output_level >= policy.num_levels().max(1) {
        fail(format!("output level {} is not below num_levels() = {}", task.output_level, policy.num_levels()));
    }
    let out = task.output_level;
    match task.kind {
        TaskKind::Drop => {}
        TaskKind::Move => {
            if inputs.iter().any(|(l, _)| *l >= out) {
                fail("a move must go to a deeper level".into());
            }
            if out >= 1 {
                for (_, t) in &inputs {
                    if let Some(o) = state.overlapping(out, &t.min_key, &t.max_key).next() {
                        fail(format!("moved table {} overlaps table {} in L{out}", t.id, o.id));
                    }
                    if let Some((_, o)) = inputs.iter().find(|(_, u)| u.id != t.id && u.overlaps_table(t)) {
                        fail(format!("moved tables {} and {} overlap each other", t.id, o.id));
                    }
                }
            }
        }
        TaskKind::Merge => {
            if task.target_table_size == 0 {
                fail("a merge with target_table_size 0".into());
            }
            if inputs.iter().any(|(l, _)| *l > out) {
                fail("a merge may not move data up".into());
            }
            let hull = key_hull(inputs.iter().map(|(_, t)| *t));
            if out >= 1
                && let Some((lo, hi)) = &hull
                && let Some(o) = state.overlapping(out, lo, hi).find(|o| !seen.contains(&o.id))
            {
                fail(format!("L{out} table {} overlaps the inputs but is not one", o.id));
            }
            if out == 0 {
                let l0 = state.level(0);
                let mut at: Vec<usize> =
                    l0.iter().enumerate().filter(|(_, t)| seen.contains(&t.id)).map(|(i, _)| i).collect();
                at.sort_unstable();
                if at.windows(2).any(|w| w[1] != w[0] + 1) {
                    fail(format!("L0 merge of runs not adjacent in age (positions {at:?})"));
                }
            }
        }
    }
    if task.kind != TaskKind::Drop && out >= 1 {
        if let Some(what) = l0_leftover(state, task, &seen) {
            fail(what);
        }
        // Concurrent tasks into one level must not produce overlapping tables.
        let hull = key_hull(inputs.iter().map(|(_, t)| *t));
        for other in running.iter().filter(|r| r.kind != TaskKind::Drop && r.output_level == out) {
            let other_inputs: Vec<&TableMeta> =
                other.input_tables().filter_map(|(l, id)| state.level(l).iter().find(|t| t.id == id)).collect();
            if let (Some((a_lo, a_hi)), Some((b_lo, b_hi))) = (&hull, key_hull(other_inputs))
                && **a_lo <= b_hi
                && b_lo <= **a_hi
            {
                fail(format!("overlaps the key range of a running task into L{out}: {other:?}"));
            }
        }
    }
}

/// Tables leaving L0 must not leave an older overlapping L0 table behind.
fn l0_leftover(state: &LevelState, task: &CompactionTask, seen: &HashSet<u64>) -> Option<String> {
    let l0 = state.level(0);
    let newest_input = l0.iter().position(|t| seen.contains(&t.id))?;
    let leaving: Vec<&TableMeta> = l0.iter().filter(|t| seen.contains(&t.id)).collect();
    for (i, t) in l0.iter().enumerate().skip(newest_input) {
        if !seen.contains(&t.id) && leaving.iter().any(|u| u.overlaps_table(t)) {
            return Some(format!(
                "L0 table {} (position {i}) is older than a table leaving L0 for L{} and overlaps it",
                t.id, task.output_level
            ));
        }
    }
    None
}

/// Checks the tree after applying a task: levels >= 1 sorted and free of overlaps.
fn check_shape<P: CompactionPolicy>(policy: &P, state: &LevelState, applied: &CompactionTask) {
    for (level, tables) in state.levels.iter().enumerate().skip(1) {
        for w in tables.windows(2) {
            assert!(
                w[0].max_key < w[1].min_key,
                "{}: L{level} tables {} and {} overlap after {applied:?}",
                policy.name(),
                w[0].id,
                w[1].id
            );
        }
    }
}

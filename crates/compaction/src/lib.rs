//! Compaction for Strata: which tables to merge next, and the merge itself.
//!
//! * [`CompactionPolicy`]: a pure function of the tree's shape ([`LevelState`]) that picks
//!   the next [`CompactionTask`]. No I/O, so policies are unit-tested, property-tested and
//!   simulated ([`simulate`], `strata sim`) without disks.
//! * Three policies: [`Leveled`] (LevelDB/RocksDB leveled), [`SizeTiered`] (RocksDB's
//!   universal compaction) and [`Fifo`] (drop the oldest), and [`AnyPolicy`] to choose one at
//!   run time from a validated [`PolicyConfig`].
//! * [`execute`]: carries a task out against an [`SsTableStore`](strata_sstable::SsTableStore):
//!   merges the inputs, keeps only versions a reader can still see (the newest, and the newest
//!   at each live snapshot), drops tombstones at the bottom of the tree, splits the output
//!   into tables of a target size, and returns one manifest edit ([`CompactionOutput`]).
//! * `testing::conformance` (feature `testing`): the promises every policy keeps,
//!   as a suite a user's policy runs with one line.
//!
//! # Example
//!
//! ```
//! use strata_compaction::{
//!     AnyPolicy, CompactionPolicy, ExecContext, LevelState, PolicyConfig, TableMeta, TaskKind, execute, is_bottommost,
//! };
//! use strata_core::{Entry, KeyRange};
//! use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore};
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! let dir = tempfile::tempdir()?;
//! let store = ParquetStore::open(dir.path(), ParquetOptions::default())?;
//!
//! // Four flushes land in L0 (newest first); each overwrites "k" and deletes "gone" at the end.
//! let mut state = LevelState { levels: vec![Vec::new(); 7], ..LevelState::default() };
//! for id in 1..=4u64 {
//!     let seq = id * 10;
//!     let mut entries = vec![Entry::put(format!("a{id}"), seq, "x"), Entry::put("k", seq, format!("v{id}"))];
//!     if id == 4 {
//!         entries.insert(0, Entry::delete("a1", seq + 1));
//!     }
//!     let meta = store.write_table(id, &mut entries.into_iter().map(Ok))?;
//!     state.levels[0].insert(0, meta.clone());
//! }
//!
//! // Leveled compaction: four L0 tables reach the trigger, so L0 is merged into L1.
//! let policy = AnyPolicy::new(&PolicyConfig::by_name("leveled")?)?;
//! let task = policy.pick(&state).expect("L0 is at its trigger");
//! assert_eq!((task.kind, task.output_level), (TaskKind::Merge, 1));
//!
//! let next_id = AtomicU64::new(100);
//! let ctx = ExecContext {
//!     snapshots: &[],
//!     bottommost: is_bottommost(&state, &task),
//!     next_table_id: &|| next_id.fetch_add(1, Ordering::Relaxed),
//!     rate_limiter: None,
//!     max_subcompactions: 1,
//!     copy_row_groups: true,
//!     zero_seqs_below: strata_core::MAX_SEQNO,
//! };
//! let edit = execute(&store, &task, &state, &ctx)?;
//! assert_eq!(edit.removed.len(), 4);
//! let (level, meta) = &edit.added[0];
//! assert_eq!(*level, 1);
//! // One version of "k" survives, and "a1" and its tombstone are gone.
//! let keys: Vec<_> = store.scan(meta.id, &KeyRange::all())?.map(|e| e.map(|e| e.key)).collect::<Result<_, _>>()?;
//! assert_eq!(keys, ["a2", "a3", "a4", "k"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod any;
mod config;
mod error;
mod executor;
mod fifo;
mod forced;
mod leveled;
mod policy;
mod range_del;
pub mod sim;
mod size_tiered;
mod state;
mod task;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use any::AnyPolicy;
pub use config::{FifoOptions, LeveledOptions, PolicyConfig, PolicyOptions, SizeTieredOptions};
pub use error::Error;
pub use executor::{CompactionOutput, ExecContext, execute, is_bottommost};
pub use fifo::Fifo;
pub use forced::compact_range_task;
pub use leveled::Leveled;
pub use policy::CompactionPolicy;
pub use range_del::{range_delete_drop_task, range_tombstone_cleanup_task, wholly_deleted};
pub use sim::{SimConfig, SimLevel, SimPoint, SimReport, simulate};
pub use size_tiered::SizeTiered;
pub use state::{LevelState, level_order};
pub use strata_sstable::TableId;
pub use strata_sstable::TableMeta;
pub use task::{CompactionTask, TaskKind};

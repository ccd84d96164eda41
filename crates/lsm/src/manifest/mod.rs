//! The manifest: the set of live tables and the engine's counters, in one of two forms.
//!
//! * Local ([`LocalManifest`]): an append-only log of version edits, and `CURRENT`, an
//!   atomically replaced pointer to the live manifest file. At open the manifest is replayed
//!   into the set of live tables, then rewritten as one snapshot edit into a fresh file, so it
//!   never grows without bound across restarts; while running it is rewritten the same way
//!   once it passes [`REWRITE_BYTES`].
//! * Remote ([`RemoteManifest`]): numbered, immutable objects in a [`ManifestStore`], each
//!   one snapshot edit of the whole tree, written with create-if-absent. The tree carries the
//!   writer epoch: a writer that opens the store commits the next epoch first, and a writer
//!   whose commit loses its number to a higher epoch is fenced ([`Error::Fenced`]).

mod commit;
mod edit;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_core::fs::{FileSystem, WritableFile};
use strata_core::{ManifestStore, SeqNo};
use strata_sstable::TableMeta;

pub(crate) use self::edit::VersionEdit;
use crate::{Error, Result, record};

/// The name of the pointer file.
pub(crate) const CURRENT: &str = "CURRENT";

/// A running manifest is rewritten as a snapshot once it is this large.
pub(crate) const REWRITE_BYTES: u64 = 4 << 20;

/// The file name of manifest `number`.
pub(crate) fn manifest_name(number: u64) -> String {
    format!("MANIFEST-{number:06}")
}

/// The number of a manifest file name.
pub(crate) fn parse_manifest_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("MANIFEST-")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

/// The state a manifest describes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TreeState {
    /// Live tables per level; L0 newest first, deeper levels by smallest key.
    pub(crate) levels: Vec<Vec<TableMeta>>,
    pub(crate) log_number: u64,
    pub(crate) next_file_number: u64,
    pub(crate) last_seq: SeqNo,
    /// The epoch of the writer owning a remote manifest (0 for a local one).
    pub(crate) writer_epoch: u64,
}

impl TreeState {
    /// Applies an edit, checking that every removed table exists.
    pub(crate) fn apply(&mut self, edit: &VersionEdit) -> std::result::Result<(), String> {
        for &(level, id) in &edit.removed {
            let tables =
                self.levels.get_mut(level).ok_or_else(|| format!("removes table {id} from missing level {level}"))?;
            let pos = tables
                .iter()
                .position(|t| t.id == id)
                .ok_or_else(|| format!("removes table {id} not on level {level}"))?;
            tables.remove(pos);
        }
        for (level, meta) in &edit.added {
            if self.levels.len() <= *level {
                self.levels.resize_with(level + 1, Vec::new);
            }
            self.levels[*level].push(meta.clone());
        }
        sort_levels(&mut self.levels);
        if let Some(n) = edit.log_number {
            self.log_number = self.log_number.max(n);
        }
        if let Some(n) = edit.next_file_number {
            self.next_file_number = self.next_file_number.max(n);
        }
        if let Some(s) = edit.last_seq {
            self.last_seq = self.last_seq.max(s);
        }
        if let Some(e) = edit.writer_epoch {
            self.writer_epoch = self.writer_epoch.max(e);
        }
        Ok(())
    }

    /// The highest sequence number the tree's tables hold or its counters reach: what a
    /// read-only opener, which has no log, reads at.
    pub(crate) fn visible_seq(&self) -> SeqNo {
        self.levels.iter().flatten().map(|t| t.max_seq).fold(self.last_seq, SeqNo::max)
    }

    /// One edit that recreates this state from nothing.
    pub(crate) fn snapshot_edit(&self) -> VersionEdit {
        VersionEdit {
            added: self.levels.iter().enumerate().flat_map(|(l, ts)| ts.iter().map(move |t| (l, t.clone()))).collect(),
            removed: Vec::new(),
            log_number: Some(self.log_number),
            next_file_number: Some(self.next_file_number),
            last_seq: Some(self.last_seq),
            writer_epoch: (self.writer_epoch > 0).then_some(self.writer_epoch),
        }
    }
}

/// Orders L0 newest first and deeper levels by smallest key; reads rely on both.
pub(crate) fn sort_levels(levels: &mut [Vec<TableMeta>]) {
    for (level, tables) in levels.iter_mut().enumerate() {
        tables.sort_by(|a, b| strata_compaction::level_order(level, a, b));
    }
}

/// The live manifest, local or remote.
#[derive(Debug)]
pub(crate) enum Manifest {
    Local(LocalManifest),
    Remote(RemoteManifest),
}

impl Manifest {
    /// Makes `edit` durable; `next` is the tree after it (a remote manifest stores the whole
    /// tree). Only after this returns may the edit take effect.
    pub(crate) fn commit(&mut self, edit: &VersionEdit, next: &TreeState) -> Result<()> {
        match self {
            Self::Local(m) => m.append(edit),
            Self::Remote(m) => m.commit_tree(next),
        }
    }
}

/// Where a `write` cut short by a fatal signal can end: at a page boundary of the file.
const TORN_WRITE_ALIGN: usize = 4096;

/// The open manifest file edits are appended to.
#[derive(Debug)]
pub(crate) struct LocalManifest {
    number: u64,
    path: PathBuf,
    file: Box<dyn WritableFile>,
    size: u64,
    /// Set when an append failed: the file may end in a partial or unsynced edit the engine
    /// never applied, so no later edit may follow it.
    failed: bool,
}

impl LocalManifest {
    /// Reads the live manifest of `dir`; `None` when the directory holds no database.
    pub(crate) fn recover(fs: &Arc<dyn FileSystem>, dir: &Path) -> Result<Option<(TreeState, u64)>> {
        let current = dir.join(CURRENT);
        if !fs.exists(&current) {
            return Ok(None);
        }
        let pointer = fs.read_all(&current).map_err(|e| Error::io(&current, e))?;
        let (name, number) = std::str::from_utf8(&pointer)
            .ok()
            .and_then(|s| s.strip_suffix('\n'))
            .and_then(|s| Some((s, parse_manifest_name(s)?)))
            .ok_or_else(|| Error::corruption(&current, "does not name a manifest file"))?;
        let path = dir.join(name);
        let data = fs.read_all(&path).map_err(|e| match e.kind() {
            // A damaged pointer can name a manifest that never existed.
            std::io::ErrorKind::NotFound => Error::corruption(&current, format!("names {name}, which does not exist")),
            _ => Error::io(&path, e),
        })?;
        let (payloads, tail) = record::scan(&data);
        if let record::Tail::Invalid { offset, reason } = tail {
            // An edit is acted on only after its append was written and synced. A process
            // killed during the `write` of an edit larger than a page leaves the file ending
            // inside that record, at a page boundary (Linux stops a write between pages for a
            // fatal signal): that edit never took effect, and the open writes a new manifest
            // without it. Any other bad record, including one whose damaged length runs past an
            // unaligned end, is damage.
            let torn = tail.is_truncated() && data.len().is_multiple_of(TORN_WRITE_ALIGN);
            if !torn {
                return Err(Error::corruption(&path, format!("{reason} at offset {offset}")));
            }
            tracing::warn!(file = %path.display(), offset, reason, "ignoring an edit cut short at the manifest's end");
        }
        let mut state = TreeState::default();
        for (i, payload) in payloads.iter().enumerate() {
            let edit = VersionEdit::decode(payload)
                .ok_or_else(|| Error::corruption(&path, format!("record {i} is not a valid version edit")))?;
            state.apply(&edit).map_err(|reason| Error::corruption(&path, format!("record {i} {reason}")))?;
        }
        if payloads.is_empty() {
            return Err(Error::corruption(&path, "the manifest is empty"));
        }
        Ok(Some((state, number)))
    }

    /// Writes `state` as a new manifest `number`, then points `CURRENT` at it atomically.
    pub(crate) fn create(fs: &Arc<dyn FileSystem>, dir: &Path, number: u64, state: &TreeState) -> Result<Self> {
        let path = dir.join(manifest_name(number));
        let mut file = fs.create(&path).map_err(|e| Error::io(&path, e))?;
        let mut buf = Vec::new();
        record::encode(&mut buf, &state.snapshot_edit().encode());
        file.write_all(&buf).and_then(|()| file.sync()).map_err(|e| Error::io(&path, e))?;

        let tmp = dir.join("CURRENT.tmp");
        let mut pointer = fs.create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        pointer
            .write_all(format!("{}\n", manifest_name(number)).as_bytes())
            .and_then(|()| pointer.sync())
            .map_err(|e| Error::io(&tmp, e))?;
        drop(pointer);
        fs.rename(&tmp, &dir.join(CURRENT)).map_err(|e| Error::io(&tmp, e))?;
        fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Self { number, path, file, size: buf.len() as u64, failed: false })
    }

    /// Appends and syncs one edit. Only after this returns may the edit take effect.
    ///
    /// After a failure the edit is cut off again (best effort) and every later append fails:
    /// an edit written after an unapplied one would be replayed on top of it at the next
    /// open, describing a tree that never existed.
    pub(crate) fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        if self.failed {
            let e = std::io::Error::other("an earlier write to this manifest failed; reopen the database");
            return Err(Error::io(&self.path, e));
        }
        let mut buf = Vec::new();
        record::encode(&mut buf, &edit.encode());
        if let Err(e) = self.file.write_all(&buf).and_then(|()| self.file.sync()) {
            self.failed = true;
            // A torn record at the end would make the next open report corruption.
            if let Err(cut) = self.file.truncate(self.size).and_then(|()| self.file.sync()) {
                tracing::warn!(file = %self.path.display(), error = %cut, "could not cut a failed manifest edit off");
            }
            return Err(Error::io(&self.path, e));
        }
        self.size += buf.len() as u64;
        Ok(())
    }

    pub(crate) const fn number(&self) -> u64 {
        self.number
    }

    pub(crate) const fn size(&self) -> u64 {
        self.size
    }
}

/// Remote manifests kept below the latest, for readers that listed the store just before a
/// commit and are about to fetch what they saw.
const REMOTE_KEEP: u64 = 16;

/// How many times opening retries when other writers keep winning the next number.
const CLAIM_ATTEMPTS: usize = 16;

/// The manifest in a [`ManifestStore`]: one whole-tree object per commit.
#[derive(Debug)]
pub(crate) struct RemoteManifest {
    store: Arc<dyn ManifestStore>,
    /// The number of the latest manifest this process wrote or read.
    number: u64,
    /// This writer's epoch (0 for a read-only opener, which never commits).
    epoch: u64,
}

impl RemoteManifest {
    fn object(store: &dyn ManifestStore, number: u64) -> PathBuf {
        PathBuf::from(format!("{}/{}", store.location(), manifest_name(number)))
    }

    /// Reads the latest manifest of `store`: its tree and number, or `None` when it has none.
    pub(crate) fn load(store: &dyn ManifestStore) -> Result<Option<(TreeState, u64)>> {
        let location = PathBuf::from(store.location());
        let Some((number, data)) = store.latest().map_err(|e| Error::io(&location, e))? else {
            return Ok(None);
        };
        let object = Self::object(store, number);
        let (payloads, tail) = record::scan(&data);
        let edit = match (payloads.as_slice(), tail) {
            (&[payload], record::Tail::Clean) => VersionEdit::decode(payload),
            _ => None,
        }
        .ok_or_else(|| Error::corruption(&object, "is not one valid manifest record"))?;
        let mut tree = TreeState::default();
        tree.apply(&edit).map_err(|reason| Error::corruption(&object, reason))?;
        // L0 exists even in an empty tree: reads and flushes index it.
        if tree.levels.is_empty() {
            tree.levels.push(Vec::new());
        }
        Ok(Some((tree, number)))
    }

    /// Opens `store` for a read-only opener: the latest tree, or [`Error::NotFound`].
    pub(crate) fn open_read_only(store: Arc<dyn ManifestStore>) -> Result<(Self, TreeState)> {
        let (tree, number) =
            Self::load(&*store)?.ok_or_else(|| Error::NotFound { dir: PathBuf::from(store.location()) })?;
        Ok((Self { store, number, epoch: 0 }, tree))
    }

    /// Takes `store` over for a new writer: commits the latest tree again under the next
    /// writer epoch, which fences every earlier writer. Returns the manifest and the tree
    /// (its `writer_epoch` is the new epoch).
    pub(crate) fn claim(store: Arc<dyn ManifestStore>, create_if_missing: bool) -> Result<(Self, TreeState)> {
        for _ in 0..CLAIM_ATTEMPTS {
            let (mut tree, number) = match Self::load(&*store)? {
                Some(found) => found,
                None if create_if_missing => (TreeState::default(), 0),
                None => return Err(Error::NotFound { dir: PathBuf::from(store.location()) }),
            };
            tree.writer_epoch += 1;
            let mut manifest = Self { store: Arc::clone(&store), number, epoch: tree.writer_epoch };
            match manifest.put_next(&tree, false)? {
                true => return Ok((manifest, tree)),
                // Another writer opened at the same moment and took the number (or this
                // one's put landed and its answer was lost): read what is there and claim
                // the epoch after it, fencing that writer in turn.
                false => continue,
            }
        }
        let e = std::io::Error::other(format!("lost the race for the next manifest {CLAIM_ATTEMPTS} times"));
        Err(Error::io(store.location(), e))
    }

    /// Writes `tree` as the next manifest; `false` when that number was taken by another
    /// writer. With `own_retry`, finding exactly these bytes under the number counts as
    /// written (see below). A claim must not count it: two writers claiming the same epoch
    /// from the same manifest write identical bytes, and only one of them may win.
    fn put_next(&mut self, tree: &TreeState, own_retry: bool) -> Result<bool> {
        let next = self.number + 1;
        let mut buf = Vec::new();
        // The epoch is this writer's, whatever the tree it commits says.
        let edit = VersionEdit { writer_epoch: Some(self.epoch), ..tree.snapshot_edit() };
        record::encode(&mut buf, &edit.encode());
        let object = Self::object(&*self.store, next);
        let mut won = self.store.put_if_absent(next, &buf).map_err(|e| Error::io(&object, e))?;
        if !won && own_retry {
            // A put whose response was lost and that the client sent again finds its own
            // manifest there: that is a success, not a lost race.
            let location = PathBuf::from(self.store.location());
            let latest = self.store.latest().map_err(|e| Error::io(&location, e))?;
            won = latest.is_some_and(|(n, bytes)| n == next && bytes == buf);
        }
        if won {
            self.number = next;
            if next.is_multiple_of(REMOTE_KEEP) {
                let keep_from = next.saturating_sub(REMOTE_KEEP);
                if let Err(e) = self.store.delete_below(keep_from) {
                    tracing::warn!(location = %self.store.location(), error = %e, "could not delete old manifests");
                }
            }
        }
        Ok(won)
    }

    /// Commits `tree` as the next manifest, or fails with [`Error::Fenced`] when a writer of
    /// a later epoch has taken the store over.
    pub(crate) fn commit_tree(&mut self, tree: &TreeState) -> Result<()> {
        debug_assert!(self.epoch > 0, "a read-only opener never commits");
        if self.put_next(tree, true)? {
            return Ok(());
        }
        let newer = Self::load(&*self.store)?.map_or(0, |(t, _)| t.writer_epoch);
        if newer > self.epoch {
            return Err(Error::Fenced { location: self.store.location(), epoch: self.epoch, by: newer });
        }
        Err(Error::corruption(
            Self::object(&*self.store, self.number + 1),
            format!("was written by another writer of this writer's epoch {}", self.epoch),
        ))
    }

    /// Reads the latest manifest when it is newer than the one this opener has: `Some(tree)`
    /// then, `None` when nothing changed.
    pub(crate) fn refresh(&mut self) -> Result<Option<TreeState>> {
        match Self::load(&*self.store)? {
            Some((tree, number)) if number > self.number => {
                self.number = number;
                Ok(Some(tree))
            }
            _ => Ok(None),
        }
    }

    pub(crate) const fn epoch(&self) -> u64 {
        self.epoch
    }
}

#[cfg(test)]
mod tests {
    use strata_sstable::testing::MemFs;

    use super::*;
    use crate::testing::{FaultError, FaultFs, OpKind};

    fn edit(n: u64) -> VersionEdit {
        VersionEdit { next_file_number: Some(n), ..VersionEdit::default() }
    }

    /// Found by the fault walk: after an append whose sync failed, a later append synced
    /// the failed edit along with its own, and the next open replayed both on top of each
    /// other ("removes table 17 not on level 0").
    #[test]
    fn an_append_after_a_failed_one_is_refused_and_the_failed_edit_is_cut_off() {
        let fs = FaultFs::new(MemFs::shared());
        let shared = fs.shared();
        let dir = Path::new("/m");
        shared.create_dir_all(dir).unwrap();
        let mut m = LocalManifest::create(&shared, dir, 1, &TreeState::default()).unwrap();
        m.append(&edit(5)).unwrap();
        fs.fail_next_on(OpKind::Sync, "MANIFEST", FaultError::Eio);
        assert!(m.append(&edit(6)).is_err());
        assert!(m.append(&edit(7)).is_err(), "an append after a failed one must be refused");
        let (state, _) = LocalManifest::recover(&shared, dir).unwrap().expect("a manifest");
        assert_eq!(state.next_file_number, 5, "the failed edit must not be replayed");
    }

    /// Found by the SIGKILL crash test (`crash_sigkill.rs`, in CI): a process killed while
    /// appending an edit of more than a page left the manifest ending inside that record at a
    /// page boundary, and the next open reported corruption instead of opening without the
    /// edit, which never took effect. A record cut anywhere else, or whole but failing its
    /// checksum, is still damage (the corruption sweep flips length fields).
    #[test]
    fn an_edit_cut_short_at_a_page_boundary_is_dropped_and_other_damage_is_corruption() {
        let fs = MemFs::shared();
        let dir = Path::new("/m");
        fs.create_dir_all(dir).unwrap();
        let mut m = LocalManifest::create(&fs, dir, 1, &TreeState::default()).unwrap();
        m.append(&edit(5)).unwrap();
        let path = dir.join(manifest_name(1));
        let good = fs.read_all(&path).unwrap();
        // A record that crosses the first page boundary of the file.
        let mut record = Vec::new();
        record::encode(&mut record, &[7u8; 6000]);
        let write = |bytes: &[u8]| {
            let mut f = fs.create(&path).unwrap();
            f.write_all(bytes).unwrap();
        };
        let at_page = TORN_WRITE_ALIGN - good.len();
        write(&[&good[..], &record[..at_page]].concat());
        let (state, _) = LocalManifest::recover(&fs, dir).unwrap().expect("a manifest that opens");
        assert_eq!(state.next_file_number, 5, "the torn edit must not be replayed");
        for cut in [1, record::HEADER, at_page - 1, at_page + 1] {
            write(&[&good[..], &record[..cut]].concat());
            match LocalManifest::recover(&fs, dir) {
                Err(Error::Corruption { file, reason }) => {
                    assert_eq!(file, path);
                    assert!(reason.contains("truncated"), "{reason}");
                }
                other => panic!("cut at {cut}: expected corruption, got {other:?}"),
            }
        }
        let mut damaged = Vec::new();
        record::encode(&mut damaged, &edit(6).encode());
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        write(&[&good[..], &damaged[..]].concat());
        match LocalManifest::recover(&fs, dir) {
            Err(Error::Corruption { reason, .. }) => assert!(reason.contains("checksum"), "{reason}"),
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    /// Found by the corruption sweep: a flipped digit in `CURRENT` named a manifest that does
    /// not exist, and open reported a plain I/O error instead of corruption of `CURRENT`.
    #[test]
    fn current_naming_a_missing_manifest_is_corruption_of_current() {
        let fs = MemFs::shared();
        let dir = Path::new("/m");
        fs.create_dir_all(dir).unwrap();
        LocalManifest::create(&fs, dir, 1, &TreeState::default()).unwrap();
        let mut pointer = fs.read_all(&dir.join(CURRENT)).unwrap();
        pointer[9] ^= 0x03;
        let mut f = fs.create(&dir.join(CURRENT)).unwrap();
        f.write_all(&pointer).unwrap();
        drop(f);
        match LocalManifest::recover(&fs, dir) {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, dir.join(CURRENT)),
            other => panic!("expected corruption of CURRENT, got {other:?}"),
        }
    }

    /// Found by the fault walk: a manifest write cut short by a full disk left a torn
    /// record, and the next open (no crash, just a restart) reported corruption.
    #[test]
    fn a_failed_manifest_write_leaves_no_torn_edit() {
        let fs = FaultFs::new(MemFs::shared());
        let shared = fs.shared();
        let dir = Path::new("/m");
        shared.create_dir_all(dir).unwrap();
        let mut m = LocalManifest::create(&shared, dir, 1, &TreeState::default()).unwrap();
        m.append(&edit(5)).unwrap();
        fs.fail_next_on(OpKind::Write, "MANIFEST", FaultError::Enospc);
        assert!(m.append(&edit(6)).is_err());
        drop(m);
        let (state, _) = LocalManifest::recover(&shared, dir).unwrap().expect("a manifest that opens");
        assert_eq!(state.next_file_number, 5);
    }
}

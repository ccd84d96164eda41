//! Committing a version edit: the manifest first, then the live version readers see.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use strata_compaction::CompactionPolicy;
use strata_memtable::Memtable;
use strata_sstable::SsTableStore;

use super::{Manifest, VersionEdit};
use crate::state::{Inner, ManifestState, SuperVersion, lock};
use crate::version::Version;
use crate::{Error, Result};

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> Inner<M, S, C> {
    /// Appends `edit` to the manifest and installs the new version, atomically with
    /// respect to other edits. `rebuild` makes the new super version around the new tree.
    pub(crate) fn log_and_install(
        &self,
        edit: &VersionEdit,
        rebuild: impl FnOnce(&SuperVersion<M>, Arc<Version>) -> SuperVersion<M>,
    ) -> Result<()> {
        self.log_and_install_with(|_| Ok(edit.clone()), rebuild).map(|_| ())
    }

    /// [`Inner::log_and_install`] with the edit made from the live version under the
    /// manifest lock, so no other edit lands between the decision and the commit (an ingest
    /// chooses its level this way). Returns the edit.
    pub(crate) fn log_and_install_with(
        &self,
        make_edit: impl FnOnce(&Version) -> Result<VersionEdit>,
        rebuild: impl FnOnce(&SuperVersion<M>, Arc<Version>) -> SuperVersion<M>,
    ) -> Result<VersionEdit> {
        let mut manifest = lock(&self.manifest);
        let edit = make_edit(&self.current().version)?;
        let edit = &edit;
        let mut next = manifest.tree.clone();
        next.apply(edit).map_err(|reason| Error::corruption(&self.dir, reason))?;
        if let Err(e) = manifest.manifest.commit(edit, &next) {
            // The manifest may or may not hold the edit now (a failed sync, an answer lost on
            // the way back from an object store): no later edit may build on either guess,
            // and the writer refuses writes until a reopen reads what is really there.
            self.set_bg_error(e.clone());
            return Err(e);
        }
        manifest.tree = next;
        let replaced = self.install(|sv| {
            let version = Arc::new(sv.version.apply(edit, &self.deleter));
            rebuild(sv, version)
        });
        let ManifestState { manifest: file, tree } = &mut *manifest;
        if let Manifest::Local(local) = file
            && local.size() > super::REWRITE_BYTES
        {
            let number = self.allocate_file_number();
            let mut tree = tree.clone();
            tree.next_file_number = self.next_file.load(Ordering::Relaxed);
            let old = local.number();
            *local = super::LocalManifest::create(&self.fs, &self.dir, number, &tree)?;
            let _ = self.fs.remove_file(&self.dir.join(super::manifest_name(old)));
        }
        drop(manifest);
        drop(replaced);
        Ok(edit.clone())
    }
}

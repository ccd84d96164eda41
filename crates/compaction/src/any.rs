//! Run-time choice of a policy.

use crate::{
    CompactionPolicy, CompactionTask, Error, Fifo, LevelState, Leveled, PolicyConfig, PolicyOptions, SizeTiered,
};

/// One of the built-in policies, chosen at run time from a [`PolicyConfig`].
#[derive(Debug, Clone)]
pub enum AnyPolicy {
    /// [`Leveled`] compaction.
    Leveled(Leveled),
    /// [`SizeTiered`] compaction.
    SizeTiered(SizeTiered),
    /// [`Fifo`] compaction.
    Fifo(Fifo),
}

impl AnyPolicy {
    /// The policy `config` describes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming the first option outside its allowed range.
    pub fn new(config: &PolicyConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(match config.options() {
            PolicyOptions::Leveled(o) => Self::Leveled(Leveled::new(o)?),
            PolicyOptions::SizeTiered(o) => Self::SizeTiered(SizeTiered::new(o)?),
            PolicyOptions::Fifo(o) => Self::Fifo(Fifo::new(o)?),
        })
    }

    /// The policy named `name` with default options.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownPolicy`] listing the valid names.
    pub fn by_name(name: &str) -> Result<Self, Error> {
        Self::new(&PolicyConfig::by_name(name)?)
    }

    fn inner(&self) -> &dyn CompactionPolicy {
        match self {
            Self::Leveled(p) => p,
            Self::SizeTiered(p) => p,
            Self::Fifo(p) => p,
        }
    }
}

impl Default for AnyPolicy {
    /// Leveled compaction with default options.
    fn default() -> Self {
        Self::Leveled(Leveled::default())
    }
}

impl CompactionPolicy for AnyPolicy {
    fn name(&self) -> &'static str {
        self.inner().name()
    }

    fn pick(&self, state: &LevelState) -> Option<CompactionTask> {
        self.inner().pick(state)
    }

    fn num_levels(&self) -> usize {
        self.inner().num_levels()
    }

    fn settled_level(&self, bytes: u64) -> usize {
        self.inner().settled_level(bytes)
    }

    fn pick_for_reads(&self, state: &LevelState) -> Option<CompactionTask> {
        self.inner().pick_for_reads(state)
    }
}

//! The two caches of the Parquet store: open tables and decoded pages.

pub(crate) mod block_cache;
pub(crate) mod doorkeeper;
mod lru;
pub(crate) mod table_cache;

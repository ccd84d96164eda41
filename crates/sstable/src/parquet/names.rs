//! The names of a store's files.
//!
//! * `{id:06}.parquet` — table `id` (six digits at least, more for larger ids: `000042.parquet`,
//!   `1234567.parquet`).
//! * `{id:06}.parquet.tmp` — a table being written. It becomes `{id:06}.parquet` by an atomic
//!   rename once complete (and synced), so a file with this name is always the leftover of a
//!   write that failed or a process that crashed mid-write, never data: an engine deletes such
//!   files when it opens the directory ([`crate::ParquetStore::open`] does).
//!
//! Any other name in the directory belongs to someone else and is left alone.

use std::path::{Path, PathBuf};

use crate::TableId;

const TABLE_SUFFIX: &str = ".parquet";
const TEMP_SUFFIX: &str = ".parquet.tmp";

/// The file name of table `id`: `{id:06}.parquet`.
#[must_use]
pub fn table_file_name(id: TableId) -> String {
    format!("{id:06}{TABLE_SUFFIX}")
}

/// The table id a file name stands for, if it is exactly a table's name (as
/// [`table_file_name`] writes it); `None` for temporary and foreign files.
#[must_use]
pub fn table_id_from_file_name(name: &str) -> Option<TableId> {
    let stem = name.strip_suffix(TABLE_SUFFIX)?;
    if stem.len() < 6 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id: TableId = stem.parse().ok()?;
    // Only the canonical spelling: `0000042.parquet` is not table 42's file.
    (table_file_name(id) == name).then_some(id)
}

/// Whether `name` is the temporary file of an unfinished table write (`*.parquet.tmp`), left
/// behind by a crash or a failed write and safe to delete when the store is not writing.
#[must_use]
pub fn is_temp_file(name: &str) -> bool {
    name.ends_with(TEMP_SUFFIX)
}

/// The temporary file a table at `path` is written to before its rename.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_temp_files_are_not_tables() {
        for id in [0, 1, 42, 999_999, 1_000_000, u64::MAX] {
            let name = table_file_name(id);
            assert_eq!(table_id_from_file_name(&name), Some(id), "{name}");
            let tmp = temp_path(Path::new(&name));
            let tmp = tmp.to_str().unwrap();
            assert!(is_temp_file(tmp) && table_id_from_file_name(tmp).is_none(), "{tmp}");
        }
        assert_eq!(table_file_name(7), "000007.parquet");
        for foreign in ["7.parquet", "0000007.parquet", "00000a.parquet", "000007.parquet.bak", "MANIFEST", ""] {
            assert_eq!(table_id_from_file_name(foreign), None, "{foreign}");
            assert!(!is_temp_file(foreign));
        }
    }
}

//! A DuckDB view over the live table files of a database: the latest version of each key,
//! with point and range tombstones applied, read straight from the Parquet files.
//!
//! The view names the files of the current version, not a glob of the directory: a table a
//! compaction removed from the manifest may still be on disk (a reader holds it), and its
//! rows would come back from the dead. It reads only tables, so writes still in a memtable
//! are missing until a flush.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use strata_compaction::CompactionPolicy;
use strata_memtable::Memtable;
use strata_sstable::ParquetStore;

use crate::{Db, Error, Result};

/// The SQL of [`duckdb_view`] and the table files it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DuckDbView {
    /// Comment lines, then one `CREATE OR REPLACE VIEW` statement ending in `;`.
    pub sql: String,
    /// The absolute paths of the live tables the view reads (L0 newest first, then each
    /// deeper level by key). A later compaction may delete them; then the view must be made
    /// again.
    pub files: Vec<PathBuf>,
}

/// A DuckDB `CREATE OR REPLACE VIEW name` over exactly the live tables of `db`, with columns
/// `key` and `value` (both `BLOB`): for each key the row with the largest `seq` among puts
/// and point deletes, kept when it is a put and no range tombstone with a larger `seq`
/// covers its key. Paths are absolute and quoted for SQL (and for DuckDB's globbing, which
/// `read_parquet` applies to every path). With no tables the view returns no rows.
///
/// Data still in the memtables is not included: call [`Db::flush`] first. The view stays
/// right until a compaction deletes one of [`DuckDbView::files`].
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let db = strata::Db::open(dir.path(), strata::Options::default())?;
/// db.put("user/1", "ada")?;
/// db.flush()?;
/// let view = strata::duckdb_view(&db, "kv")?;
/// assert_eq!(view.files.len(), 1);
/// assert!(view.sql.contains("CREATE OR REPLACE VIEW \"kv\" AS"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidInput`] when `name` is empty or a table's path is not UTF-8 (SQL text
/// cannot name it); [`Error::Io`] when the current directory, needed to make a relative
/// database path absolute, cannot be read.
pub fn duckdb_view<M, C>(db: &Db<M, ParquetStore, C>, name: &str) -> Result<DuckDbView>
where
    M: Memtable + 'static,
    C: CompactionPolicy + 'static,
{
    if name.is_empty() {
        return Err(Error::invalid_input(db.path(), "the DuckDB view name is empty"));
    }
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| Error::io(p, e));
    let files: Vec<PathBuf> =
        db.tables().iter().flatten().map(|t| absolute(&db.store().table_path(t.id))).collect::<Result<_>>()?;
    let sql = view_sql(&absolute(db.path())?, name, &files)?;
    Ok(DuckDbView { sql, files })
}

fn view_sql(dir: &Path, name: &str, files: &[PathBuf]) -> Result<String> {
    let utf8 = |p: &Path| {
        p.to_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::invalid_input(p, "the path is not UTF-8; SQL cannot name it"))
    };
    let dir = utf8(dir)?;
    let mut sql = String::new();
    // NOTE: `--` comments end at a newline, so a newline in the path must not end one.
    let comment_dir = dir.replace(['\n', '\r'], " ");
    let _ = writeln!(sql, "-- Strata database {comment_dir}: the {} live table files of its manifest.", files.len());
    let _ = writeln!(sql, "-- Unflushed memtable data is not included: run `strata flush {comment_dir}` first.");
    let _ = writeln!(sql, "-- A later compaction may delete these files: make the view again after one.");
    let _ = writeln!(sql, "CREATE OR REPLACE VIEW {} AS", identifier(name));
    if files.is_empty() {
        sql.push_str("SELECT NULL::BLOB AS key, NULL::BLOB AS value WHERE false;\n");
        return Ok(sql);
    }
    let list = files.iter().map(|f| utf8(f).map(|p| literal(&glob_escape(&p)))).collect::<Result<Vec<_>>>()?;
    let _ = writeln!(sql, "WITH strata_rows AS (");
    let _ = writeln!(sql, "    SELECT key, seq, kind, value FROM read_parquet([");
    let _ = writeln!(sql, "        {}", list.join(",\n        "));
    // `binary_as_string` may be set for the session; keys and values are bytes.
    let _ = writeln!(sql, "    ], binary_as_string = false)");
    sql.push_str(
        "),
-- The newest put or point delete of each key; range tombstones (kind 2) are applied below.
latest AS (
    SELECT key, seq, kind, value FROM strata_rows WHERE kind <> 2
    QUALIFY row_number() OVER (PARTITION BY key ORDER BY seq DESC) = 1
),
-- A range tombstone deletes the keys in [key, value) written before it (smaller seq).
range_tombstones AS (
    SELECT key AS start_key, value AS end_key, seq FROM strata_rows WHERE kind = 2
)
SELECT l.key, l.value FROM latest AS l
WHERE l.kind = 0
  AND NOT EXISTS (
    SELECT 1 FROM range_tombstones AS r
    WHERE r.start_key <= l.key AND l.key < r.end_key AND r.seq > l.seq
  );
",
    );
    Ok(sql)
}

/// `s` as a SQL string literal: single quotes doubled. DuckDB's standard strings treat
/// backslashes literally, so nothing else needs escaping.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `s` as a double-quoted SQL identifier.
fn identifier(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `path` with DuckDB's glob characters (`*`, `?`, `[`) made literal: `read_parquet` globs
/// every path that holds one, so `db[1]/x.parquet` would read `db1/x.parquet`. A one-character
/// class (`[[]`) matches exactly that character.
fn glob_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '*' | '?' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_glob_characters_are_escaped() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(identifier("my \"kv\""), "\"my \"\"kv\"\"\"");
        assert_eq!(glob_escape("/d/a[1]*?/000007.parquet"), "/d/a[[]1][*][?]/000007.parquet");
        let sql = view_sql(Path::new("/d/it's"), "kv", &[PathBuf::from("/d/it's/000007.parquet")]).unwrap();
        assert!(sql.contains("        '/d/it''s/000007.parquet'\n"), "{sql}");
    }

    #[test]
    fn no_tables_is_a_view_of_no_rows() {
        let sql = view_sql(Path::new("/d"), "kv", &[]).unwrap();
        assert!(
            sql.ends_with(
                "CREATE OR REPLACE VIEW \"kv\" AS\nSELECT NULL::BLOB AS key, NULL::BLOB AS value WHERE false;\n"
            ),
            "{sql}"
        );
        assert!(!sql.contains("read_parquet"));
    }

    #[test]
    fn a_newline_in_the_path_cannot_end_the_comment() {
        let sql = view_sql(Path::new("/d/x\nDROP TABLE t;"), "kv", &[]).unwrap();
        assert!(sql.lines().all(|l| l.starts_with("--") || !l.contains("DROP")), "{sql}");
    }
}

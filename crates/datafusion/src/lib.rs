//! SQL over a live Strata database with [DataFusion](https://datafusion.apache.org) 55.
//!
//! A raw read of Strata's Parquet files shows every version and every tombstone and misses
//! the memtables. [`StrataTable`] is the database as SQL should see it: one row per live
//! key (`key`, `value`, both binary), the newest version at one snapshot, memtables
//! included, deletes and range deletes applied.
//!
//! * Key predicates (`=`, `<`, `<=`, `>`, `>=`, `BETWEEN`, `IN`, `starts_with(key, ...)`,
//!   `key LIKE 'p%'`) narrow the scan to a key range before any table is read; DataFusion
//!   still applies them to the rows, so a predicate this crate reads loosely is never wrong.
//! * `LIMIT` stops the scan early.
//! * The range is split into partitions at table boundaries, read in parallel, each in key
//!   order, and the table declares that order, so `ORDER BY key` merges instead of sorting.
//! * Every partition of one query reads the same snapshot, taken when the query is planned.
//!   [`register_snapshot`] registers a snapshot you hold as a table of its own: time travel
//!   to the moment it was taken.
//! * Values that are JSON can be exposed as a `value_json` string column
//!   ([`ValueColumns::Json`]) for DataFusion's string functions, or decoded into columns
//!   of your own with a closure ([`ValueColumns::Decoded`]).
//!
//! This crate targets DataFusion 55 (arrow 59), while the engine is on arrow 60: batches
//! are built here from the engine's `Bytes`, and no arrow type crosses between the two.
//!
//! ```no_run
//! # async fn example() -> datafusion::error::Result<()> {
//! let db = std::sync::Arc::new(strata::Db::open("my-data", strata::Options::default()).expect("open"));
//! let ctx = datafusion::prelude::SessionContext::new();
//! strata_datafusion::register(&ctx, "kv", &db)?;
//! let batches = ctx.sql("select count(*) from kv where key between 'user/' and 'user0'").await?.collect().await?;
//! # Ok(()) }
//! ```

mod range;

use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BinaryBuilder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion::prelude::SessionContext;
use strata::{AnyMemtable, AnyPolicy, Bytes, Db, KeyRange, ParquetStore};

/// A snapshot of a database with the default components.
pub type Snapshot = strata::Snapshot<AnyMemtable, ParquetStore, AnyPolicy>;

pub use crate::range::key_range;

/// A closure that turns one value into the cells of the decoded columns (`None` is null).
pub type Decoder = Arc<dyn Fn(&[u8]) -> Vec<Option<String>> + Send + Sync>;

/// What columns a value becomes.
#[derive(Clone, Default)]
pub enum ValueColumns {
    /// `value`, the bytes as stored.
    #[default]
    Raw,
    /// `value` and `value_json`: the value as UTF-8 text (null when it is not UTF-8), for
    /// DataFusion's string functions on JSON values.
    Json,
    /// `value` and one nullable string column per name, filled by the closure.
    Decoded {
        /// The column names.
        columns: Vec<String>,
        /// Makes one row's cells, in the order of `columns`.
        decode: Decoder,
    },
}

impl fmt::Debug for ValueColumns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Raw => f.write_str("Raw"),
            Self::Json => f.write_str("Json"),
            Self::Decoded { columns, .. } => f.debug_struct("Decoded").field("columns", columns).finish(),
        }
    }
}

/// What a table reads: the live database (a fresh snapshot per query) or one snapshot.
#[derive(Clone)]
enum Source {
    Live(Arc<Db>),
    Snapshot(Arc<Db>, Arc<Snapshot>),
}

impl Source {
    fn db(&self) -> &Arc<Db> {
        match self {
            Self::Live(db) | Self::Snapshot(db, _) => db,
        }
    }
}

/// A Strata database as a DataFusion table. See the crate docs.
#[derive(Clone)]
pub struct StrataTable {
    source: Source,
    values: ValueColumns,
    schema: SchemaRef,
}

impl fmt::Debug for StrataTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrataTable").field("values", &self.values).field("schema", &self.schema).finish()
    }
}

impl StrataTable {
    /// The live database: each query reads a snapshot taken when it is planned.
    #[must_use]
    pub fn new(db: &Arc<Db>, values: ValueColumns) -> Self {
        Self::with_source(Source::Live(Arc::clone(db)), values)
    }

    /// The database as `snapshot` sees it, however long ago it was taken.
    #[must_use]
    pub fn at(db: &Arc<Db>, snapshot: Snapshot, values: ValueColumns) -> Self {
        Self::with_source(Source::Snapshot(Arc::clone(db), Arc::new(snapshot)), values)
    }

    fn with_source(source: Source, values: ValueColumns) -> Self {
        let mut fields = vec![Field::new("key", DataType::Binary, false), Field::new("value", DataType::Binary, false)];
        match &values {
            ValueColumns::Raw => {}
            ValueColumns::Json => fields.push(Field::new("value_json", DataType::Utf8, true)),
            ValueColumns::Decoded { columns, .. } => {
                fields.extend(columns.iter().map(|c| Field::new(c, DataType::Utf8, true)));
            }
        }
        Self { source, values, schema: Arc::new(Schema::new(fields)) }
    }

    /// Splits `range` into at most `n` disjoint, ascending parts at table boundaries.
    fn split(&self, range: &KeyRange, n: usize) -> Vec<KeyRange> {
        let own = |b: Bound<&[u8]>| b.map(Bytes::copy_from_slice);
        let first = match range.start() {
            Bound::Included(k) | Bound::Excluded(k) => Some(k),
            Bound::Unbounded => None,
        };
        let mut bounds: Vec<Bytes> = self
            .source
            .db()
            .tables()
            .iter()
            .flatten()
            .map(|t| t.min_key.clone())
            .filter(|k| range.contains(k) && Some(k.as_ref()) != first)
            .collect();
        bounds.sort();
        bounds.dedup();
        let cuts: Vec<Bytes> = if bounds.is_empty() || n <= 1 {
            Vec::new()
        } else {
            let step = bounds.len().div_ceil(n);
            bounds.into_iter().skip(step - 1).step_by(step).take(n - 1).collect()
        };
        let mut parts = Vec::with_capacity(cuts.len() + 1);
        let mut start = own(range.start());
        for cut in cuts {
            parts.push(KeyRange::new(start, Bound::Excluded(cut.clone())));
            start = Bound::Included(cut);
        }
        parts.push(KeyRange::new(start, own(range.end())));
        parts
    }
}

#[async_trait]
impl TableProvider for StrataTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        // Key predicates narrow the scan; DataFusion applies every filter to the rows too.
        Ok(filters
            .iter()
            .map(|f| {
                if range::key_range_of(f).is_some() {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let range = key_range(filters);
        let snapshot = match &self.source {
            Source::Live(db) => Arc::new(db.snapshot()),
            Source::Snapshot(_, s) => Arc::clone(s),
        };
        let config = state.config();
        let batch_size = config.batch_size();
        // A limit is best served by one partition in key order.
        let n = if limit.is_some() { 1 } else { config.target_partitions().max(1) };
        let partitions: Vec<Arc<dyn PartitionStream>> = self
            .split(&range, n)
            .into_iter()
            .map(|part| {
                Arc::new(KeyRangePartition {
                    snapshot: Arc::clone(&snapshot),
                    range: part,
                    schema: Arc::clone(&self.schema),
                    values: self.values.clone(),
                    batch_size,
                    limit,
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        // Each partition is in key order; when `key` is projected, say so.
        let key_at = match projection {
            None => Some(0),
            Some(p) => p.iter().position(|&c| c == 0),
        };
        let ordering = key_at
            .and_then(|i| LexOrdering::new([PhysicalSortExpr::new_default(Arc::new(Column::new("key", i)))]))
            .into_iter();
        Ok(Arc::new(StreamingTableExec::try_new(
            Arc::clone(&self.schema),
            partitions,
            projection,
            ordering,
            false,
            limit,
        )?))
    }
}

/// One key range of a scan, read on a thread of its own (the engine's reads block).
struct KeyRangePartition {
    snapshot: Arc<Snapshot>,
    range: KeyRange,
    schema: SchemaRef,
    values: ValueColumns,
    batch_size: usize,
    limit: Option<usize>,
}

impl fmt::Debug for KeyRangePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRangePartition").field("range", &self.range).finish()
    }
}

impl PartitionStream for KeyRangePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
        let (snapshot, range, schema, values) =
            (Arc::clone(&self.snapshot), self.range.clone(), Arc::clone(&self.schema), self.values.clone());
        let (batch_size, limit) = (self.batch_size.max(1), self.limit.unwrap_or(usize::MAX));
        // A plain thread, not `spawn_blocking`: an engine on object storage blocks on its own
        // runtime, which must not be called from inside another one.
        let spawned = std::thread::Builder::new().name("strata-sql-scan".into()).spawn(move || {
            let mut rows = BatchBuilder::new(&schema, &values, batch_size);
            let mut sent = 0usize;
            for kv in snapshot.iter(range) {
                let (k, v) = match kv {
                    Ok(kv) => kv,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(DataFusionError::External(Box::new(e))));
                        return;
                    }
                };
                rows.push(&k, &v);
                sent += 1;
                let done = sent >= limit;
                if rows.len() == batch_size || done {
                    // A closed channel means the query stopped reading.
                    let closed = tx.blocking_send(rows.finish(&schema)).is_err();
                    if closed || done {
                        return;
                    }
                }
            }
            if rows.len() > 0 {
                let _ = tx.blocking_send(rows.finish(&schema));
            }
        });
        let stream: futures::stream::BoxStream<'static, Result<RecordBatch>> = match spawned {
            Ok(_) => Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })),
            Err(e) => Box::pin(futures::stream::once(async move { Err(DataFusionError::External(Box::new(e))) })),
        };
        Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), stream))
    }
}

/// The columns of one batch as they fill.
struct BatchBuilder {
    keys: BinaryBuilder,
    values: BinaryBuilder,
    extra: Vec<StringBuilder>,
    decode: ValueColumns,
    rows: usize,
}

impl BatchBuilder {
    fn new(schema: &SchemaRef, decode: &ValueColumns, capacity: usize) -> Self {
        let extra = (2..schema.fields().len()).map(|_| StringBuilder::with_capacity(capacity, capacity * 16)).collect();
        Self {
            keys: BinaryBuilder::with_capacity(capacity, capacity * 16),
            values: BinaryBuilder::with_capacity(capacity, capacity * 64),
            extra,
            decode: decode.clone(),
            rows: 0,
        }
    }

    const fn len(&self) -> usize {
        self.rows
    }

    fn push(&mut self, key: &[u8], value: &[u8]) {
        self.keys.append_value(key);
        self.values.append_value(value);
        match &self.decode {
            ValueColumns::Raw => {}
            ValueColumns::Json => self.extra[0].append_option(std::str::from_utf8(value).ok()),
            ValueColumns::Decoded { decode, .. } => {
                let mut cells = decode(value).into_iter();
                for column in &mut self.extra {
                    column.append_option(cells.next().flatten());
                }
            }
        }
        self.rows += 1;
    }

    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        self.rows = 0;
        let mut columns: Vec<ArrayRef> = vec![Arc::new(self.keys.finish()), Arc::new(self.values.finish())];
        columns.extend(self.extra.iter_mut().map(|c| Arc::new(c.finish()) as ArrayRef));
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

/// Registers the live database as table `name` (columns `key` and `value`).
///
/// # Errors
///
/// DataFusion's, when `name` cannot be registered.
pub fn register(ctx: &SessionContext, name: &str, db: &Arc<Db>) -> Result<()> {
    ctx.register_table(name, Arc::new(StrataTable::new(db, ValueColumns::Raw))).map(|_| ())
}

/// Registers the database as `snapshot` sees it as table `name`: time travel to the moment
/// the snapshot was taken, for as long as it is held (the table holds it).
///
/// # Errors
///
/// DataFusion's, when `name` cannot be registered.
pub fn register_snapshot(ctx: &SessionContext, name: &str, db: &Arc<Db>, snapshot: Snapshot) -> Result<()> {
    ctx.register_table(name, Arc::new(StrataTable::at(db, snapshot, ValueColumns::Raw))).map(|_| ())
}

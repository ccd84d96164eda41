//! `strata sql`: SQL over the live database through DataFusion (`strata-datafusion`), the
//! database registered as table `kv`. Built with the `sql` feature.

use std::sync::Arc;

use clap::Args;
use datafusion::arrow::array::{Array, BinaryArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use strata::Options;
use strata_datafusion::{StrataTable, ValueColumns};

use crate::location::{Access, Location, Target};

#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// The database: a directory or an object-store URL (opened read-only there).
    pub(crate) dir: Location,
    /// The query. The database is table `kv` (`key`, `value`: binary); compare keys with
    /// strings (`where key between 'a' and 'b'`) or hex (`X'6b31'`).
    pub(crate) query: String,
    /// Print one JSON object per row instead of a table (binary cells as text when they
    /// are UTF-8, else as 0x-hex).
    #[arg(long)]
    pub(crate) json: bool,
    /// Add `value_json`, each value as text, for DataFusion's string functions.
    #[arg(long)]
    pub(crate) json_values: bool,
}

fn cell(column: &dyn Array, row: usize) -> Result<serde_json::Value, String> {
    if column.is_null(row) {
        return Ok(serde_json::Value::Null);
    }
    if column.data_type() == &DataType::Binary
        && let Some(b) = column.as_any().downcast_ref::<BinaryArray>()
    {
        let bytes = b.value(row);
        return Ok(serde_json::Value::String(match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => format!("0x{}", bytes.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        }));
    }
    let f = ArrayFormatter::try_new(column, &FormatOptions::default()).map_err(|e| e.to_string())?;
    Ok(serde_json::Value::String(f.value(row).to_string()))
}

fn json_lines(batches: &[RecordBatch]) -> Result<String, String> {
    let mut out = String::new();
    for b in batches {
        let schema = b.schema();
        for row in 0..b.num_rows() {
            let mut object = serde_json::Map::new();
            for (i, field) in schema.fields().iter().enumerate() {
                object.insert(field.name().clone(), cell(b.column(i).as_ref(), row)?);
            }
            out.push_str(&serde_json::Value::Object(object).to_string());
            out.push('\n');
        }
    }
    Ok(out)
}

pub(crate) fn run(args: &SqlArgs, target: &Target, base: &Options) -> Result<String, String> {
    let db = Arc::new(target.open(base, Access::Read)?);
    let values = if args.json_values { ValueColumns::Json } else { ValueColumns::Raw };
    let ctx = SessionContext::new();
    ctx.register_table("kv", Arc::new(StrataTable::new(&db, values))).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let batches = rt
        .block_on(async { ctx.sql(&args.query).await?.collect().await })
        .map_err(|e| format!("{}: {e}", args.query))?;
    if args.json {
        json_lines(&batches)
    } else {
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .map(|t| format!("{t}\n"))
            .map_err(|e| e.to_string())
    }
}

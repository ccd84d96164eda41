#!/usr/bin/env bash
# Runs every Strata test on a fresh machine: installs what the tests need beyond cargo
# (pyarrow and DuckDB, the independent Parquet readers the interop tests check our tables
# with), then runs the whole workspace's tests, doc tests included.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import pyarrow, duckdb' 2>/dev/null; then
    echo "==> installing pyarrow and duckdb for the Parquet interop tests"
    python3 -m pip install --quiet --disable-pip-version-check pyarrow duckdb
fi

echo "==> cargo test --workspace"
# Benches are compiled (and linted) by clippy --all-targets in CI; running their setups here would only be slow.
cargo test --workspace --lib --bins --tests --examples
cargo test --workspace --doc

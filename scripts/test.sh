#!/usr/bin/env bash
# Runs every Strata test on a fresh machine: installs what the tests need beyond cargo
# (pyarrow and DuckDB, the independent Parquet readers the interop tests check our tables
# with, and moto, the S3 server strata-object's tests start on loopback), then runs the
# whole workspace's tests, doc tests included.
set -euo pipefail
cd "$(dirname "$0")/.."

# pip itself, when this Python came without it: its own bootstrap, else the distribution's package.
ensure_pip() {
    python3 -m pip --version >/dev/null 2>&1 && return 0
    python3 -m ensurepip --upgrade --user >/dev/null 2>&1 && return 0
    if command -v apt-get >/dev/null 2>&1; then
        local sudo=()
        [ "$(id -u)" -ne 0 ] && sudo=(sudo -n)
        "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq python3-pip
    fi
}

# A system Python may refuse a plain install (PEP 668): then the user's site, then past the guard.
pip_install() {
    ensure_pip
    local pip=(python3 -m pip install --quiet --disable-pip-version-check)
    "${pip[@]}" "$@" || "${pip[@]}" --user "$@" || "${pip[@]}" --break-system-packages "$@"
}

if ! python3 -c 'import pyarrow, duckdb' 2>/dev/null; then
    echo "==> installing pyarrow and duckdb for the Parquet interop tests"
    pip_install pyarrow duckdb
fi
if ! python3 -c 'import moto.server' 2>/dev/null; then
    echo "==> installing moto, the S3 server for the object-store tests"
    pip_install 'moto[server]'
fi

echo "==> cargo test --workspace"
# Benches are compiled (and linted) by clippy --all-targets in CI; running their setups here would only be slow.
cargo test --workspace --lib --bins --tests --examples
cargo test --workspace --doc
# `strata sql` is behind the CLI's `sql` feature (DataFusion stays out of the default build).
# With `--workspace` the features unify as in the run above, so only strata-cli is rebuilt
# (`-p strata-cli` alone would build DataFusion a second time).
cargo test --workspace --features strata-cli/sql --test sql

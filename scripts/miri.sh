#!/usr/bin/env bash
# Runs the memtable crate's own tests under Miri, which interprets them and stops at the first
# undefined behaviour: an access outside what a pointer may reach (Stacked Borrows), a read of
# uninitialized memory, a use after free, a data race. The memtables are where Strata's
# pointer-heavy `unsafe` code is (the `enhanced_skiplist` and its arena, the linked lists).
#
#   scripts/miri.sh              (the crate's unit tests, then the skip list's conformance
#                                 suite)
#   scripts/miri.sh TEST_FILTER  (only the unit tests matching the filter)
#
# Needs a nightly toolchain with the miri and rust-src components; they are installed if
# missing, which needs the network (rustup's servers, not a package registry), so CI does
# not run this. Tests run with fewer entries under `cfg(miri)`; even so the whole run takes
# about 15 minutes.
set -euo pipefail

cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "installing the nightly toolchain's miri and rust-src components"
    rustup toolchain install nightly --profile minimal --component miri,rust-src
fi

if [ $# -gt 0 ]; then
    cargo +nightly miri test -p strata-memtable --lib -- "$@"
    exit 0
fi
cargo +nightly miri test -p strata-memtable --lib
# The conformance suite of the skip list, whose unsafe code is the most. The linked lists'
# own unit test covers theirs above: their suite, O(n) per insert, had not finished under
# Miri after 30 minutes. `skiplist` (crossbeam-skiplist), `sorted`, `vector`, `trie` and
# `hash_skiplist` hold no unsafe code of Strata's.
cargo +nightly miri test -p strata-memtable --test conformance -- --exact enhanced_skiplist

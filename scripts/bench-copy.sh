#!/usr/bin/env bash
# Benchmarks the copy engine against skopeo (see benches/copy.rs): builds the release
# binaries, then runs the bench, which prints a table with the ratios.
# Needs docker-registry, skopeo and /usr/bin/time (apt-get install -y docker-registry skopeo time).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p acr-sync-taskset
export ACR_SYNC_TASKSET_BIN="${ACR_SYNC_TASKSET_BIN:-$PWD/target/release/acr-sync-taskset}"
exec cargo bench --bench copy "$@"

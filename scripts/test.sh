#!/usr/bin/env bash
# The test command named in the README: does its own set-up, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# The chat example's integration test runs the example binary as a user would.
cargo build --all-features --examples
cargo test --all-features --all-targets
cargo test --all-features --doc
# Every README code block, pasted into a new project as the README says.
bash scripts/readme-snippets.sh

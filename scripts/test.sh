#!/usr/bin/env bash
# The test command named in the README: does its own set-up, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Redis health tests start their own redis-server: install it where we can
# (Debian, as root); without it they skip with a note, and fail under CI=true.
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq redis-server
  else
    echo "test.sh: redis-server is not installed; the Redis tests will skip" >&2
  fi
fi
# The chat example's integration test runs the example binary as a user would.
cargo build --all-features --examples
cargo test --all-features --all-targets
cargo test --all-features --doc
# Every README code block, pasted into a new project as the README says.
bash scripts/readme-snippets.sh

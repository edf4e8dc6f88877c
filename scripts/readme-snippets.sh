#!/usr/bin/env bash
# Checks the README's promise that every ```rust block compiles and runs when pasted
# into the main.rs of a new project with the dependencies the README names: each
# block becomes one binary of a scratch project whose [dependencies] are the README's
# toml block (majordomo by path to this checkout instead of git, with the `redis`
# feature that the README's "Many replicas" section says to add for its snippet)
# and the extra crates of any later toml block headed [dependencies].
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work="$root/target/readme-paste"
rm -rf "$work"
mkdir -p "$work/src/bin"

# The [dependencies] are the README's own toml block, with the git source of
# majordomo swapped for this checkout, plus the lines of every later toml block
# that starts with [dependencies] (a section's extra crates, such as the
# OpenTelemetry setup's).
deps=$(awk '/^```toml/ { inside = 1; n += 1; line = 0; next }
  /^```/ && inside { inside = 0; next }
  inside { line += 1; if (n == 1) print; else if (line == 1 && $0 == "[dependencies]") extra = 1; else if (line == 1) extra = 0; else if (extra) print }' README.md \
  | sed -E "s|^majordomo = .*|majordomo = { path = \"$root\", features = [\"redis\"] }|")
if ! grep -q '^\[dependencies\]' <<<"$deps"; then
  echo "readme-snippets: the README has no toml block with [dependencies]" >&2
  exit 1
fi
cat > "$work/Cargo.toml" <<TOML
[package]
name = "readme-paste"
version = "0.0.0"
edition = "2024"
publish = false

$deps

[workspace]
TOML
# The same dependency versions as the crate's own build.
cp Cargo.lock "$work/Cargo.lock"

awk -v dir="$work/src/bin" '
  /^```rust/ { inside = 1; n += 1; file = sprintf("%s/snippet_%02d.rs", dir, n); next }
  /^```/ && inside { inside = 0; close(file); next }
  inside { print > file }
' README.md

count=$(ls "$work/src/bin" | wc -l)
if [ "$count" -eq 0 ]; then
  echo "readme-snippets: no rust blocks found in README.md" >&2
  exit 1
fi
export CARGO_TARGET_DIR="$root/target/readme-paste-target"
cargo build --quiet --manifest-path "$work/Cargo.toml" --bins
for bin in "$work"/src/bin/*.rs; do
  name=$(basename "$bin" .rs)
  if ! grep -q 'fn main' "$bin"; then
    echo "readme-snippets: $name has no fn main: it does not paste as a program" >&2
    exit 1
  fi
  echo "== $name"
  cargo run --quiet --manifest-path "$work/Cargo.toml" --bin "$name" >/dev/null
done
echo "readme-snippets: $count blocks compiled and ran as pasted"

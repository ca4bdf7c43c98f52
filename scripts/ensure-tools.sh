#!/usr/bin/env bash
# Installs what `make` needs and is missing, so a fresh machine needs nothing by hand.
set -euo pipefail
if ! command -v cargo >/dev/null; then
  echo "cargo is required (Rust 1.91 or newer)" >&2
  exit 1
fi
if command -v rustup >/dev/null; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi

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
# The control-plane scripts need Go (to build it), openssl (certificates) and curl (health);
# the HTML report test renders the report in headless Chromium.
missing=()
for t in openssl curl; do command -v "$t" >/dev/null || missing+=("$t"); done
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
  else
    echo "please install: ${missing[*]}" >&2
    exit 1
  fi
fi
command -v go >/dev/null || { echo "Go 1.26 is required to build the local control plane" >&2; exit 1; }
# `make bench` draws its plots with gnuplot.
if [ -n "${KHAIBAO_BENCH_TOOLS:-}" ] && ! command -v gnuplot >/dev/null; then
  if command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq gnuplot-nox
  else
    echo "please install gnuplot (for the plots of make bench)" >&2
  fi
fi

#!/usr/bin/env bash
# Offline `khaibao test` over every tenant of the 63-province division (63 provinces + 10,051
# communes, one file each, as `khaibao generate tenants` writes them) side by side with its
# floor, `render-baseline` (parse + render only, same files, same cores): runs alternate, one
# warm-up each, then 5 runs each; prints every run's wall time and peak RSS (/usr/bin/time), the
# medians and the ratio of the medians. Offline: no cluster.
#
#   bench/test-vs-render.sh [TARGET_DIR]     (default: target/release; build first with
#   cargo build --release -p khaibao-cli -p khaibao-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:-target/release}"
for b in khaibao render-baseline; do
  if [[ ! -x "$DIR/$b" ]]; then
    echo "error: $DIR/$b does not exist; build with: cargo build --release -p khaibao-cli -p khaibao-bench" >&2
    exit 2
  fi
done
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for level in province commune; do
  "$DIR/khaibao" generate tenants --platform dichvucong --division 63 --level "$level" \
    --out "$WORK/tenants" >/dev/null
done
files=$(find "$WORK/tenants" -name '*.yaml' | wc -l)
echo "khaibao test vs render-baseline over $files files ($DIR)"
declare -a tw tr bw br
for run in 0 1 2 3 4 5; do
  /usr/bin/time -f '%e %M' -o "$WORK/t" "$DIR/khaibao" test "$WORK/tenants" >"$WORK/test.out" 2>"$WORK/test.err" || {
    echo "error: khaibao test failed:"; tail -5 "$WORK/test.err"; tail -2 "$WORK/test.out"; exit 1; }
  /usr/bin/time -f '%e %M' -o "$WORK/b" "$DIR/render-baseline" platforms/dichvucong "$WORK/tenants" >"$WORK/base.out"
  read -r t_wall t_kib < <(tail -n1 "$WORK/t")
  read -r b_wall b_kib < <(tail -n1 "$WORK/b")
  label=$([[ $run -eq 0 ]] && echo "warm-up" || echo "run $run")
  echo "  $label: khaibao test ${t_wall} s, $((t_kib / 1024)) MiB ($(tail -n1 "$WORK/test.out")); render-baseline ${b_wall} s, $((b_kib / 1024)) MiB ($(cat "$WORK/base.out"))"
  if [[ $run -gt 0 ]]; then tw+=("$t_wall"); tr+=("$t_kib"); bw+=("$b_wall"); br+=("$b_kib"); fi
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
mt=$(median "${tw[@]}"); mb=$(median "${bw[@]}")
echo "median of 5: khaibao test $mt s, peak RSS $(($(median "${tr[@]}") / 1024)) MiB; render-baseline $mb s, peak RSS $(($(median "${br[@]}") / 1024)) MiB; ratio $(awk "BEGIN {printf \"%.2f\", $mt / $mb}")x"

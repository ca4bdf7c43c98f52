#!/usr/bin/env bash
# The reform planner at national scale: `khaibao reform plan --from 63 --to 34 -o json --out DIR`
# over every tenant of the 63-province division (63 provinces + 10,051 communes, one Tenant file
# each, as `khaibao generate tenants` writes them). Prints each run's wall time and peak RSS
# (/usr/bin/time), then the median of 3 runs after one warm-up. Offline: no cluster.
#
#   bench/reform-plan.sh [KHAIBAO_BIN]     (default: $KHAIBAO_CLI_BIN or target/release/khaibao)
#
# The plan exits 1 at this scale (communes the official mapping does not place are listed as
# unmapped, see operator/data/README.md); the run is timed all the same, it plans everything.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-${KHAIBAO_CLI_BIN:-target/release/khaibao}}"
if [[ ! -x "$BIN" ]]; then
  echo "error: $BIN does not exist; build it with: cargo build --release -p khaibao-cli" >&2
  exit 2
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for level in province commune; do
  "$BIN" generate tenants --platform dichvucong --division 63 --level "$level" \
    --out "$WORK/tenants" >/dev/null
done
files=$(find "$WORK/tenants" -name '*.yaml' | wc -l)
tenants=$(find "$WORK/tenants" -name '*.yaml' -exec cat {} + | grep -c '^kind: Tenant$' || true)
echo "reform plan 63 -> 34 over $tenants tenants ($files files), $BIN"
walls=() rss=()
for run in 0 1 2 3; do
  rm -rf "$WORK/out"
  set +e
  /usr/bin/time -f '%e %M' -o "$WORK/time" \
    "$BIN" reform plan --from 63 --to 34 -o json --out "$WORK/out" "$WORK/tenants" >"$WORK/plan.json"
  code=$?
  set -e
  if [[ $code -gt 1 ]]; then
    echo "error: khaibao reform plan exited $code" >&2
    exit 1
  fi
  # (time writes "Command exited with non-zero status N" first when the exit is not 0.)
  read -r wall kib < <(tail -n1 "$WORK/time")
  label=$([[ $run -eq 0 ]] && echo "warm-up" || echo "run $run")
  echo "  $label: ${wall} s, peak RSS $((kib / 1024)) MiB, exit $code"
  if [[ $run -gt 0 ]]; then walls+=("$wall"); rss+=("$kib"); fi
done
summary=$(jq -c '{successors: (.successors | length), conflicts: .summary.conflicts,
  splits: .summary.splits, unmapped: .summary.unmapped, provinces: .summary.provinces,
  communes: .summary.communes}' "$WORK/plan.json")
echo "  plan: $summary"
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
echo "median of ${#walls[@]}: $(median "${walls[@]}") s, peak RSS $(($(median "${rss[@]}") / 1024)) MiB"

#!/usr/bin/env bash
# The least-privilege proof: for each rule of the chart's ClusterRole and leader-election Role
# (`e2e/rbac-proof.sh verbs`: for each verb of each rule), a fresh control plane gets the chart's
# RBAC minus that rule, the operator runs as the chart's ServiceAccount, and the fleet scenario of
# e2e/tests/least_privilege.rs records the first behaviour that breaks. Long (one control plane
# per rule, ~1 min each), so not part of `make test`. The table goes to e2e/.run/rbac-proof.md
# (or $KHAIBAO_E2E_RBAC_PROOF_OUT); the test fails if removing a rule breaks nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export KHAIBAO_E2E_RBAC_PROOF="${1:-rules}"
cargo build -p khaibao --features operator --bin khaibao-operator
exec cargo test -p khaibao-e2e --test least_privilege rbac_rule_removal_proof -- --ignored --nocapture

#!/usr/bin/env bash
# The API server restart of e2e/restart-component.sh, under the name the tests and notes have
# always used:   e2e/restart-apiserver.sh STATE_DIR [FLAG...]
set -euo pipefail
state="${1:?usage: e2e/restart-apiserver.sh STATE_DIR [FLAG...]}"
shift
exec "$(dirname "${BASH_SOURCE[0]}")/restart-component.sh" "$state" kube-apiserver "$@"

#!/usr/bin/env bash
# The main job: installs what is missing, builds, then runs `svcplane demo` (root needed:
# the cluster is made of network namespaces). Extra flags go to the demo (e.g. --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then exec sudo -E bash "$0" "$@"; fi
bash scripts/setup.sh
exec node dist/src/cli/main.js demo "$@"

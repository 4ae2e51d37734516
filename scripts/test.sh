#!/usr/bin/env bash
# Runs every test: unit tests beside the code (src/**/*.test.ts) and end-to-end tests (test/),
# in one node:test run so there is one summary. Installs and builds first (scripts/setup.sh).
# End-to-end tests need root (network namespaces, nftables).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "test: type-checking sources, tests and benchmarks" >&2
npx tsc -p tsconfig.json --noEmit
mapfile -t files < <(find src test -name '*.test.ts' -not -path '*/.tmp/*' | sort)
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"

#!/usr/bin/env bash
# The whole test suite: prepares the machine (deps, MariaDB, Redis, test peers), type-checks, runs jest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
[ -f scripts/ensure-test-peers.sh ] && bash scripts/ensure-test-peers.sh
echo "[test] type-checking"
npx tsc -p tsconfig.json --noEmit
echo "[test] running jest (unit and integration projects)"
npx jest "$@"

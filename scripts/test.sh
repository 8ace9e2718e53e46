#!/usr/bin/env bash
# The whole test suite: prepares the machine (deps, MariaDB, Redis, test peers), type-checks, runs jest.
# Tests run in a random order within each file (--randomize) so a test that leans on an earlier one
# shows up; the seed is printed first, and `npm test -- --seed=<seed>` replays that order.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
[ -f scripts/ensure-test-peers.sh ] && bash scripts/ensure-test-peers.sh
echo "[test] type-checking"
npx tsc -p tsconfig.json --noEmit
npx tsc -p src/console/tsconfig.json --noEmit
seed_args=()
case " $* " in
  *" --seed"*) ;;
  *) seed_args=("--seed=$(( (RANDOM << 16 | RANDOM) - 1073741824 ))") ;;
esac
echo "[test] running jest (unit and integration projects) --randomize ${seed_args[*]:-(seed given)}"
start=$SECONDS
status=0
npx jest --randomize "${seed_args[@]}" "$@" || status=$?
echo "[test] jest took $(( SECONDS - start )) s (reproduce the order: npm test -- ${seed_args[*]:-<the seed given>})"
exit $status

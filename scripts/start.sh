#!/usr/bin/env bash
# Brings the whole service up on this machine with demo data: API on :3000 (PORT), workers, cron and
# the built-in gateway simulator in one process. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
echo "[start] building"
npx tsc -p tsconfig.build.json
bash scripts/build-console.sh
node dist/scripts/migrate.js latest
node dist/scripts/seed-demo.js
exec node dist/src/main.js --role "${ROLE:-all}"

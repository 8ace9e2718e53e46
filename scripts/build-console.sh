#!/usr/bin/env bash
# Builds the operator console (src/console, Vite) into dist/console, which the api role serves at
# /console. Skips the build when the sources, the lock file and the config are unchanged since the last
# one (a stamp of their hashes in dist/console/.build-stamp), so `npm start` stays fast. FORCE=1 rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist
# Test files building at the same time wait for each other instead of writing dist/console together.
exec 9>dist/.console-build.lock
flock 9
stamp_file=dist/console/.build-stamp
stamp=$( (find src/console -type f -print0 | sort -z | xargs -0 sha256sum; sha256sum package-lock.json) | sha256sum | cut -d' ' -f1)
if [ "${FORCE:-}" != 1 ] && [ -f "$stamp_file" ] && [ -f dist/console/index.html ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
  echo "[console] up to date"
  exit 0
fi
echo "[console] building"
NODE_ENV=production npx vite build --config src/console/vite.config.mts
echo "$stamp" > "$stamp_file"

#!/usr/bin/env bash
# `npm run test:cluster` (issue 14): the sending, callback, realtime and end-to-end test files, plus the
# failover test, against a real Redis Cluster (scripts/redis-cluster.sh: 3 masters + 3 replicas) with
# REDIS_SHARDS=6 hash-tag shards. Not part of `npm test` (time); MariaDB as usual.
#   npm run test:cluster                 every file of the list
#   npm run test:cluster -- test/x.ts    only those files (other jest arguments pass through)
# Env: REDIS_CLUSTER_PORT (7000), REDIS_SHARDS (6), KEEP_CLUSTER=1 leaves the cluster up afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
export REDIS_CLUSTER_PORT="${REDIS_CLUSTER_PORT:-7000}"
bash scripts/redis-cluster.sh up
if [ "${KEEP_CLUSTER:-0}" != 1 ]; then trap 'bash scripts/redis-cluster.sh down' EXIT; fi
REDIS_CLUSTER_NODES="$(bash scripts/redis-cluster.sh nodes)"
export REDIS_CLUSTER_NODES
export REDIS_SHARDS="${REDIS_SHARDS:-6}"
export WWP_CLUSTER_TESTS=1
files=()
has_files=0
for a in "$@"; do case "$a" in test/*) has_files=1 ;; esac; done
if [ "$has_files" = 0 ]; then
  mapfile -t files < <(ls test/sending/*.test.ts test/callbacks/*.test.ts test/realtime/*.test.ts test/e2e/*.test.ts test/cluster/*.test.ts 2>/dev/null | grep -v '\.unit\.test\.ts$')
fi
echo "[test:cluster] ${#files[@]} files against $REDIS_CLUSTER_NODES with REDIS_SHARDS=$REDIS_SHARDS"
start=$SECONDS
status=0
npx jest --selectProjects integration --randomize "${files[@]}" "$@" || status=$?
echo "[test:cluster] jest took $(( SECONDS - start )) s"
exit $status

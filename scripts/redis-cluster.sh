#!/usr/bin/env bash
# A real Redis Cluster on loopback: 3 masters + 3 replicas (issue 14), for tests, benches and development.
#
#   scripts/redis-cluster.sh up      start (no-op when already up); waits for cluster_state:ok
#   scripts/redis-cluster.sh down    stop the nodes and remove their directory
#   scripts/redis-cluster.sh status  cluster_state, and each node's role
#   scripts/redis-cluster.sh nodes   print REDIS_CLUSTER_NODES for this cluster (host:port,…)
#
# Environment: REDIS_CLUSTER_PORT (first port, default 7000; nodes use PORT … PORT+5),
# REDIS_CLUSTER_DIR (default /tmp/wwp-redis-cluster-<first port>), REDIS_CLUSTER_HOST (default 127.0.0.1).
# The first three ports are the masters, the next three their replicas.
set -euo pipefail

BASE_PORT="${REDIS_CLUSTER_PORT:-7000}"
HOST="${REDIS_CLUSTER_HOST:-127.0.0.1}"
DIR="${REDIS_CLUSTER_DIR:-/tmp/wwp-redis-cluster-${BASE_PORT}}"
PORTS=()
for i in 0 1 2 3 4 5; do PORTS+=($((BASE_PORT + i))); done

nodes_csv() {
  local out=""
  for p in "${PORTS[@]}"; do out+="${out:+,}${HOST}:${p}"; done
  echo "$out"
}

ping_node() { redis-cli -h "$HOST" -p "$1" ping 2>/dev/null | grep -q PONG; }

cluster_ok() { redis-cli -h "$HOST" -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

all_ok() {
  for p in "${PORTS[@]}"; do cluster_ok "$p" || return 1; done
}

start_node() {
  local p=$1
  ping_node "$p" && return 0
  mkdir -p "$DIR/$p"
  # appendonly no / save "": a test cluster; replicas hold the data, which is what failover needs.
  redis-server --port "$p" --bind "$HOST" --cluster-enabled yes --cluster-config-file "$DIR/$p/nodes.conf" \
    --cluster-node-timeout "${REDIS_CLUSTER_NODE_TIMEOUT_MS:-2000}" --dir "$DIR/$p" --save '' --appendonly no \
    --daemonize yes --pidfile "$DIR/$p/redis.pid" --logfile "$DIR/$p/redis.log"
  for _ in $(seq 1 100); do ping_node "$p" && return 0; sleep 0.1; done
  echo "redis node on port $p did not start (see $DIR/$p/redis.log)" >&2
  return 1
}

wait_ok() {
  for _ in $(seq 1 300); do all_ok && return 0; sleep 0.2; done
  echo "cluster did not reach cluster_state:ok" >&2
  return 1
}

up() {
  if all_ok; then
    echo "redis cluster up: $(nodes_csv)"
    return 0
  fi
  for p in "${PORTS[@]}"; do start_node "$p"; done
  # A node that already knows the cluster (restarted from its nodes.conf) only needs to rejoin.
  local known
  known=$(redis-cli -h "$HOST" -p "${PORTS[0]}" cluster info | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p')
  if [ "${known:-1}" -lt 6 ]; then
    local addrs=()
    for p in "${PORTS[@]}"; do addrs+=("$HOST:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log" 2>&1 || {
      cat "$DIR/create.log" >&2
      return 1
    }
  fi
  wait_ok
  echo "redis cluster up: $(nodes_csv)"
}

down() {
  for p in "${PORTS[@]}"; do
    if ping_node "$p"; then redis-cli -h "$HOST" -p "$p" shutdown nosave >/dev/null 2>&1 || true; fi
  done
  for p in "${PORTS[@]}"; do
    for _ in $(seq 1 50); do ping_node "$p" || break; sleep 0.1; done
  done
  rm -rf "$DIR"
  echo "redis cluster down"
}

status() {
  for p in "${PORTS[@]}"; do
    if ping_node "$p"; then
      echo "$p $(redis-cli -h "$HOST" -p "$p" role | head -1) $(redis-cli -h "$HOST" -p "$p" cluster info | grep '^cluster_state' | tr -d '\r')"
    else
      echo "$p down"
    fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  nodes) nodes_csv ;;
  *)
    echo "usage: $0 up|down|status|nodes" >&2
    exit 2
    ;;
esac

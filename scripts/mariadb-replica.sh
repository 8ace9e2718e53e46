#!/usr/bin/env bash
# A MariaDB primary + replica pair on loopback, replicating with GTID, for read routing (DB_READ_HOST):
#
#   scripts/mariadb-replica.sh up            start both (idempotent: running servers and an existing
#                                            replication setup are left as they are)
#   scripts/mariadb-replica.sh down [--purge] stop both (idempotent); --purge also deletes the directory
#   scripts/mariadb-replica.sh status        one line per server, and the replica's lag
#
# Both servers are private (own datadir, port, socket): this machine's system MariaDB runs without a
# binary log, and turning log_bin on needs a restart of a server other programs share. So `up` starts
# a primary with a binary log (server-id 1) and a replica (server-id 2) that replicates from it with
# MASTER_USE_GTID=slave_pos, and prints the DB_* / DB_READ_* variables for the service.
#
# Settings (environment): MARIADB_REPLICA_DIR (default ./data/mariadb-replica), MARIADB_PRIMARY_PORT
# (3316), MARIADB_REPLICA_PORT (3317). Both servers take root with an empty password on 127.0.0.1,
# like the system server; the replica is read_only for everyone without SUPER.
set -euo pipefail

DIR=${MARIADB_REPLICA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/data/mariadb-replica}
PRIMARY_PORT=${MARIADB_PRIMARY_PORT:-3316}
REPLICA_PORT=${MARIADB_REPLICA_PORT:-3317}
REPL_USER=repl
REPL_PASSWORD=${MARIADB_REPL_PASSWORD:-repl-password}
MARIADBD=$( [ -x /usr/sbin/mariadbd ] && echo /usr/sbin/mariadbd || command -v mariadbd )

log() { printf '[mariadb-replica] %s\n' "$*" >&2; }

sql() { # port, statement(s)
  mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$1" -uroot --batch --skip-column-names -e "$2"
}

running() { # role
  local pidfile="$DIR/$1/mariadbd.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start_server() { # role, server id, port, extra options...
  local role=$1 id=$2 port=$3; shift 3
  local home="$DIR/$role"
  if running "$role"; then log "$role already running on $port"; return; fi
  mkdir -p "$home"
  if [ ! -d "$home/data/mysql" ] && [ -f "$DIR/pristine.tar" ]; then
    # A fresh install is the same for both servers: the replica starts from the primary's pristine copy.
    mkdir -p "$home/data" && tar -xf "$DIR/pristine.tar" -C "$home/data"
  elif [ ! -d "$home/data/mysql" ]; then
    local as_root=(); [ "$(id -u)" = 0 ] && as_root=(--user=root)
    mariadb-install-db --no-defaults --datadir="$home/data" --auth-root-authentication-method=normal \
      --skip-test-db "${as_root[@]}" >"$home/install.log" 2>&1 || { cat "$home/install.log" >&2; exit 1; }
    tar -cf "$DIR/pristine.tar" -C "$home/data" .
  fi
  local as_root=(); [ "$(id -u)" = 0 ] && as_root=(--user=root)
  # The options the service relies on (as in docker-compose.yml), small buffers: the machine is shared.
  "$MARIADBD" --no-defaults "${as_root[@]}" --datadir="$home/data" --port="$port" --bind-address=127.0.0.1 \
    --socket="$home/mariadbd.sock" --pid-file="$home/mariadbd.pid" --log-error="$home/error.log" \
    --server-id="$id" --skip-name-resolve --innodb-buffer-pool-size=32M --performance-schema=OFF \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci --default-time-zone=+00:00 \
    --sql-mode=STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION \
    --innodb-snapshot-isolation=OFF --max-connections=300 "$@" >/dev/null 2>&1 &
  disown
  for _ in $(seq 1 120); do
    if sql "$port" 'SELECT 1' >/dev/null 2>&1; then log "$role up on 127.0.0.1:$port"; return; fi
    sleep 0.5
  done
  log "$role did not come up; see $home/error.log"; tail -20 "$home/error.log" >&2 || true; exit 1
}

stop_server() { # role
  local pidfile="$DIR/$1/mariadbd.pid"
  if ! running "$1"; then return; fi
  local pid; pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || { log "$1 stopped"; return; }; sleep 0.5; done
  log "$1 did not stop in 60 s; killing it"; kill -KILL "$pid" 2>/dev/null || true
}

up() {
  start_server primary 1 "$PRIMARY_PORT" --log-bin=mariadb-bin --binlog-format=ROW
  # --read-only: only SUPER (root, the replication thread) writes; the service's user cannot.
  start_server replica 2 "$REPLICA_PORT" --relay-log=relay-bin --read-only=ON --log-slave-updates=OFF
  sql "$PRIMARY_PORT" "CREATE USER IF NOT EXISTS '$REPL_USER'@'127.0.0.1' IDENTIFIED BY '$REPL_PASSWORD';
    GRANT REPLICATION SLAVE ON *.* TO '$REPL_USER'@'127.0.0.1';"
  if [ -z "$(sql "$REPLICA_PORT" 'SHOW SLAVE STATUS')" ]; then
    # Both servers are new, so the replica starts from the primary's first binlog (empty slave_pos).
    sql "$REPLICA_PORT" "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PRIMARY_PORT,
      MASTER_USER='$REPL_USER', MASTER_PASSWORD='$REPL_PASSWORD', MASTER_USE_GTID=slave_pos,
      MASTER_CONNECT_RETRY=1; START SLAVE;"
    log "replica replicating from 127.0.0.1:$PRIMARY_PORT (GTID)"
  else
    sql "$REPLICA_PORT" 'START SLAVE' >/dev/null 2>&1 || true
  fi
  echo "DB_HOST=127.0.0.1 DB_PORT=$PRIMARY_PORT DB_READ_HOST=127.0.0.1 DB_READ_PORT=$REPLICA_PORT"
}

down() {
  stop_server replica
  stop_server primary
  if [ "${1:-}" = --purge ]; then rm -rf "$DIR"; log "removed $DIR"; fi
}

status() {
  for role in primary replica; do
    if running "$role"; then echo "$role: running (pid $(cat "$DIR/$role/mariadbd.pid"))"; else echo "$role: stopped"; fi
  done
  if running replica; then
    mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$REPLICA_PORT" -uroot -e "SHOW SLAVE STATUS\\G" | grep -E 'Slave_(IO|SQL)_Running:|Seconds_Behind_Master|Gtid_IO_Pos' || true
  fi
}

case "${1:-}" in
  up) up ;;
  down) shift; down "${1:-}" ;;
  status) status ;;
  *) echo "usage: $0 up | down [--purge] | status" >&2; exit 2 ;;
esac

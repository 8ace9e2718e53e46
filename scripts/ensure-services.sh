#!/usr/bin/env bash
# Makes this machine ready to run the service or its tests, from nothing and idempotently:
# installs npm dependencies when missing or stale, starts MariaDB and Redis when installed but stopped
# (installing them from Debian packages when absent and we are root), and waits until they answer.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

# --- npm dependencies -------------------------------------------------------
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies"
  # The lock file is the contract (the Dockerfile runs the same npm ci); without one, resolve afresh.
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
fi

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    log "missing $* and cannot install it (need root and apt-get)"; exit 1
  fi
}

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "$name did not come up"; exit 1
}

# --- MariaDB / MySQL -----------------------------------------------------------
DB_HOST=${DB_HOST:-127.0.0.1}
DB_PORT=${DB_PORT:-3306}
DB_USER=${DB_USER:-root}
mysql_ping() { mysqladmin --protocol=tcp -h"$DB_HOST" -P"$DB_PORT" -u"$DB_USER" ${DB_PASSWORD:+-p"$DB_PASSWORD"} ping; }
if ! mysql_ping >/dev/null 2>&1; then
  if [ "$DB_HOST" = 127.0.0.1 ] || [ "$DB_HOST" = localhost ]; then
    [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server
    log "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >/dev/null
  fi
  wait_for MariaDB mysql_ping
fi

# --- Redis -----------------------------------------------------------------------
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
redis_ping() { redis-cli -u "$REDIS_URL" ping | grep -q PONG; }
if ! command -v redis-cli >/dev/null; then apt_install redis-server redis-tools; fi
if ! redis_ping >/dev/null 2>&1; then
  if [[ "$REDIS_URL" == redis://127.0.0.1* || "$REDIS_URL" == redis://localhost* ]]; then
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null
  fi
  wait_for Redis redis_ping
fi
log "MariaDB and Redis are up"

#!/usr/bin/env bash
# Test peers that are real protocol servers, not mocks: Debian's victoria-metrics (speaks the InfluxDB v2
# write API; tests start their own instance on a random port). s3rver (S3) is an npm dev dependency that
# tests start in-process. Idempotent and fast when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[test-peers] %s\n' "$*"; }

vm_binary() {
  command -v victoria-metrics 2>/dev/null || { [ -x /usr/bin/victoria-metrics ] && echo /usr/bin/victoria-metrics; } || true
}

if [ -z "$(vm_binary)" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing victoria-metrics"
    export DEBIAN_FRONTEND=noninteractive
    # Only refresh the package lists when the package is unknown to apt (saves a network round trip).
    if ! apt-cache show victoria-metrics >/dev/null 2>&1; then apt-get update -qq >/dev/null; fi
    if ! apt-get install -y -qq --no-install-recommends victoria-metrics >/dev/null; then
      apt-get update -qq >/dev/null
      apt-get install -y -qq --no-install-recommends victoria-metrics >/dev/null
    fi
    # The package enables a system service on :8428; tests run their own instances, so stop it quietly.
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now victoria-metrics >/dev/null 2>&1 || true; fi
  else
    log "victoria-metrics missing and cannot install it (need root and apt-get); metrics tests will fail"
    exit 1
  fi
fi

# Debian's Chromium for the console's browser tests (playwright-core drives it; nothing is downloaded),
# and a CJK font so the zh-CN screenshots show characters.
if ! command -v chromium >/dev/null 2>&1 || [ ! -d /usr/share/fonts/truetype/wqy ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null || { apt-get update -qq >/dev/null; apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }
  else
    log "chromium missing and cannot install it (need root and apt-get); console browser tests will fail"
  fi
fi

if [ ! -d node_modules/s3rver ]; then
  log "s3rver missing from node_modules (dev dependency); run npm ci"
  exit 1
fi
log "ok ($(vm_binary))"

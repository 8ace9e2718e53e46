import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium, driven by playwright-core (no browser download). Installed with apt when missing
 * and the tests run as root (scripts/ensure-test-peers.sh does the same up front).
 */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export function chromiumPath(): string {
  const found = CANDIDATES.find((p) => existsSync(p));
  if (found) return found;
  if (process.getuid?.() === 0) {
    execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 });
    const installed = CANDIDATES.find((p) => existsSync(p));
    if (installed) return installed;
  }
  throw new Error('Chromium is missing: apt-get install -y chromium');
}

export function launchChromium(): Promise<Browser> {
  // --no-sandbox: tests run as root in containers; the pages are our own.
  return chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
}

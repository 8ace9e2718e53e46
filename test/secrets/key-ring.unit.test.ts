import { Writable } from 'node:stream';
import pino from 'pino';
import { KeyRing, SecretError, parseKeyRing } from '../../src/secrets/key-ring';
import { maskEndpoint, maskSecret } from '../../src/secrets/masking';
import { LOG_REDACT_PATHS } from '../../src/logger';
import { credentialHint } from '../../src/channels/channels';

/** The reusable sealing module (AES-256-GCM key ring) and what surrounds it: masking and log redaction. */
const key = (b: number) => Buffer.alloc(32, b).toString('base64');

test('seal/open round trip; ciphertexts differ each time and hide the plaintext', () => {
  const ring = parseKeyRing(`k1:${key(1)}`);
  const a = ring.seal('puppet_workpro_abcdef123456', 'row:1');
  const b = ring.seal('puppet_workpro_abcdef123456', 'row:1');
  expect(a).not.toBe(b);
  expect(a).not.toContain('abcdef');
  expect(a.startsWith('v1.k1.')).toBe(true);
  expect(ring.open(a, 'row:1')).toBe('puppet_workpro_abcdef123456');
});

test('a ciphertext is bound to its row (associated data) and to its bytes', () => {
  const ring = parseKeyRing(`k1:${key(1)}`);
  const sealed = ring.seal('secret', 'channel_credentials:a');
  expect(() => ring.open(sealed, 'channel_credentials:b')).toThrow(SecretError);
  const parts = sealed.split('.');
  const ct = Buffer.from(parts[4], 'base64url');
  ct[0] ^= 1;
  parts[4] = ct.toString('base64url');
  expect(() => ring.open(parts.join('.'), 'channel_credentials:a')).toThrow(/does not open/);
  expect(() => ring.open('plain text', 'x')).toThrow(/not a sealed secret/);
});

test('rotation: a new key first seals, old keys still open, reseal moves a value to the new key', () => {
  const old = parseKeyRing(`k1:${key(1)}`);
  const sealed = old.seal('token-1', 'r');
  const rotated = parseKeyRing(`k2:${key(2)},k1:${key(1)}`);
  expect(rotated.activeKeyId).toBe('k2');
  expect(rotated.isStale(sealed)).toBe(true);
  expect(rotated.open(sealed, 'r')).toBe('token-1');
  const moved = rotated.reseal(sealed, 'r');
  expect(KeyRing.keyIdOf(moved)).toBe('k2');
  expect(parseKeyRing(`k2:${key(2)}`).open(moved, 'r')).toBe('token-1');
  // Once k1 is dropped, values still under it cannot be opened: rekey before dropping.
  expect(() => parseKeyRing(`k2:${key(2)}`).open(sealed, 'r')).toThrow(/not in the key ring/);
});

test('key ring configuration errors name the problem', () => {
  expect(() => parseKeyRing('')).toThrow(/at least one key/);
  expect(() => parseKeyRing('k1')).toThrow(/id:base64/);
  expect(() => parseKeyRing(`k1:${Buffer.alloc(16).toString('base64')}`)).toThrow(/32 bytes/);
  expect(() => parseKeyRing(`k1:${key(1)},k1:${key(2)}`)).toThrow(/twice/);
  expect(() => parseKeyRing(`bad id:${key(1)}`)).toThrow(/letters/);
});

test('hints are recognisable but never the secret', () => {
  const token = 'puppet_workpro_7f3c2a9b1e4d5c6a';
  expect(maskSecret(token)).toBe('puppet_workpro_…5c6a');
  expect(maskSecret('short')).not.toContain('short');
  expect(maskEndpoint('grpc.provider.example:8788')).toBe('grpc.provider.example:…');
  const hint = credentialHint('wechaty', { token, endpoint: '10.1.2.3:8788', tls: { insecure: true } });
  expect(JSON.stringify(hint)).not.toContain('7f3c2a9b');
  expect(hint).toEqual({ token: 'puppet_workpro_…5c6a', endpoint: '10.1.2.3:…', tls: 'disabled' });
});

test('log redaction removes credentials, tokens and endpoints wherever they appear', () => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
  const log = pino({ redact: LOG_REDACT_PATHS }, sink);
  const token = 'puppet_workpro_SECRET_TOKEN_42';
  log.info({ credentials: { token, endpoint: 'p.example:8788' } }, 'a');
  log.info({ instance: { credentials: { token } } }, 'b');
  log.info({ req: { body: { credentials: { token } } } }, 'c');
  log.info({ token, endpoint: 'p.example:8788' }, 'd');
  log.info({ puppet: { token } }, 'e');
  expect(lines).toHaveLength(5);
  for (const l of lines) {
    expect(l).not.toContain('SECRET_TOKEN');
    expect(l).not.toContain('p.example');
  }
});

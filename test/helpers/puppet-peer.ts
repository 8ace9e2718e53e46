import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { http } from './http';
import { freePort } from './ports';
import { spawnRole, type SpawnedRole } from './processes';

/**
 * The real provider side for Wechaty tests: test/fixtures/puppet-peer.ts (upstream PuppetServers with
 * recording PuppetMocks) in a child process of its own, driven through its control API.
 *
 *   const peer = await startPuppetPeer();
 *   const port = await peer.addServer('insecure_acct1');      // a provider endpoint for this token
 *   await peer.scan('insecure_acct1', 2, 'https://qr/1');     // ScanStatus.Waiting
 *   await peer.login('insecure_acct1');
 *   (await peer.sent('insecure_acct1'))                        // what the account sent
 */
export interface SentByMock {
  message_id: string;
  conversation_id: string;
  kind: 'text' | 'file' | 'url' | 'miniprogram' | 'contact' | 'location';
  text?: string;
  mention_ids?: string[];
  file?: { name: string; size: number; media_type?: string };
  payload?: any;
}

export interface PuppetPeer {
  readonly proc: SpawnedRole;
  addServer(token: string): Promise<number>;
  stopServer(token: string): Promise<void>;
  startServer(token: string): Promise<void>;
  scan(token: string, status: number, qrcode?: string): Promise<void>;
  login(token: string, name?: string): Promise<string>;
  logout(token: string, reason?: string): Promise<void>;
  contacts(token: string, names: string[]): Promise<string[]>;
  room(token: string, topic: string, memberIds: string[]): Promise<string>;
  incoming(token: string, fromId: string, text: string, roomId?: string): Promise<void>;
  /** The provider asks for a verify code (juzi's verify-code event, Waiting); `code` is the right one. */
  requestVerifyCode(token: string, code: string): Promise<string>;
  /** The pending verify code expires (the next code entered is answered Expired). */
  expireVerifyCode(token: string): Promise<void>;
  /** Codes the account entered through `enterVerifyCode`, in order. */
  enteredCodes(token: string): Promise<string[]>;
  /** Text sends wait at the provider (in flight) until `releaseSends`; then the mock records them. */
  holdSends(token: string): Promise<void>;
  releaseSends(token: string): Promise<number>;
  sent(token: string): Promise<SentByMock[]>;
  state(token: string): Promise<{ logged_in: boolean; user_id: string | null; starts: number; stops: number; running: boolean; held: number }>;
  close(): Promise<void>;
}

export async function startPuppetPeer(): Promise<PuppetPeer> {
  const controlPort = await freePort();
  // The upstream packages keep caches under $HOME/.wechaty: a home of its own per peer.
  const home = mkdtempSync(path.join(os.tmpdir(), 'wwp-peer-'));
  const removeHome = () => rmSync(home, { recursive: true, force: true });
  const proc = spawnRole({ script: 'test/fixtures/puppet-peer.ts', env: { PEER_CONTROL_PORT: String(controlPort), HOME: home, WECHATY_LOG: 'silent' }, label: 'puppet peer' });
  try {
    await proc.waitForOutput(/puppet peer listening on \d+/, 'puppet peer start-up');
  } catch (err) {
    await proc.kill();
    removeHome();
    throw err;
  }
  const base = `http://127.0.0.1:${controlPort}`;
  const call = async (method: string, p: string, body?: unknown) => {
    const res = await http(method, `${base}${p}`, body === undefined ? {} : { body });
    if (res.status !== 200) throw new Error(`puppet peer ${method} ${p}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const s = (token: string) => `/servers/${encodeURIComponent(token)}`;
  return {
    proc,
    async addServer(token) {
      const port = await freePort();
      await call('POST', '/servers', { token, port });
      return port;
    },
    stopServer: async (token) => void (await call('POST', `${s(token)}/stop`, {})),
    startServer: async (token) => void (await call('POST', `${s(token)}/start`, {})),
    scan: async (token, status, qrcode) => void (await call('POST', `${s(token)}/scan`, { status, qrcode })),
    login: async (token, name) => (await call('POST', `${s(token)}/login`, { name })).user_id,
    logout: async (token, reason) => void (await call('POST', `${s(token)}/logout`, { reason })),
    contacts: async (token, names) => (await call('POST', `${s(token)}/contacts`, { names })).ids,
    room: async (token, topic, memberIds) => (await call('POST', `${s(token)}/rooms`, { topic, member_ids: memberIds })).id,
    incoming: async (token, fromId, text, roomId) => void (await call('POST', `${s(token)}/incoming`, { from_id: fromId, text, room_id: roomId })),
    requestVerifyCode: async (token, code) => (await call('POST', `${s(token)}/verify-code`, { code })).id,
    expireVerifyCode: async (token) => void (await call('POST', `${s(token)}/verify-code/expire`, {})),
    enteredCodes: async (token) => (await call('GET', `${s(token)}/verify-code`)).entered,
    holdSends: async (token) => void (await call('POST', `${s(token)}/hold`, {})),
    releaseSends: async (token) => (await call('POST', `${s(token)}/release`, {})).released,
    sent: async (token) => (await call('GET', `${s(token)}/sent`)).sent,
    state: async (token) => call('GET', `${s(token)}/state`),
    close: async () => {
      await proc.stop(10_000).catch(() => proc.kill());
      removeHome();
    },
  };
}

/** ScanStatus of wechaty-puppet 1.x. */
export const SCAN = { Unknown: 0, Cancel: 1, Waiting: 2, Scanned: 3, Confirmed: 4, Timeout: 5 } as const;

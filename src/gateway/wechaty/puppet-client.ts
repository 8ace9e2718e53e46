import type { WechatyCredentials } from '../../channels/channels';

/**
 * The Wechaty Puppet Service client the gateway drives: `PuppetService` of the juzi fork
 * (@juzi/wechaty-puppet-service), the family that carries WeCom's verify-code event and
 * `enterVerifyCode`; it speaks the same `wechaty.Puppet` gRPC service as upstream servers.
 *
 * Loaded on first use (about 100 MiB of modules), so processes that do not run the gateway never pay
 * for it. Its own logger is silenced: it prints payloads and would print whatever a provider puts in
 * its errors; the gateway logs what it needs itself, without secrets.
 */

/** The part of the client the gateway uses (the client's own types pull in half the fork). */
export interface PuppetLike {
  readonly isLoggedIn: boolean;
  readonly currentUserId: string;
  on(event: string, listener: (payload: any) => void): unknown;
  removeAllListeners(event?: string): unknown;
  start(): Promise<void>;
  stop(): Promise<void>;
  logout(reason?: string): Promise<void>;
  ding(data?: string): void;
  contactPayload(id: string): Promise<{ id: string; name?: string; avatar?: string; corporation?: string; alias?: string; type?: number }>;
  contactList(): Promise<string[]>;
  roomList(): Promise<string[]>;
  roomPayload(id: string): Promise<{ id: string; topic?: string; memberIdList?: string[]; avatar?: string }>;
  messagePayload(id: string): Promise<any>;
  friendshipPayload(id: string): Promise<any>;
  messageSendText(conversationId: string, text: string, mentionIdList?: string[]): Promise<string | void>;
  messageSendFile(conversationId: string, file: unknown): Promise<string | void>;
  messageSendUrl(conversationId: string, payload: { title: string; url: string; description?: string; thumbnailUrl?: string }): Promise<string | void>;
  messageSendMiniProgram(conversationId: string, payload: Record<string, string | undefined>): Promise<string | void>;
  enterVerifyCode(id: string, code: string): Promise<void>;
  cancelVerifyCode(id: string): Promise<void>;
  refreshQRCode(): Promise<void>;
}

interface ClientModules {
  PuppetService: new (options: Record<string, unknown>) => PuppetLike;
  FileBox: { fromBase64(b64: string, name: string): unknown; fromUrl(url: string, opts: { name?: string }): unknown };
  /** file-box's FileBoxType.Base64. */
  base64Type: number;
}

let loaded: ClientModules | undefined;

export function clientModules(): ClientModules {
  if (!loaded) {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const puppet = require('@juzi/wechaty-puppet') as { log: { level(l: string): void } };
    puppet.log.level('silent');
    const service = require('@juzi/wechaty-puppet-service') as { PuppetService: ClientModules['PuppetService'] };
    const fileBox = require('file-box') as { FileBox: ClientModules['FileBox']; FileBoxType: { Base64: number } };
    /* eslint-enable @typescript-eslint/no-require-imports */
    loaded = { PuppetService: service.PuppetService, FileBox: fileBox.FileBox, base64Type: fileBox.FileBoxType.Base64 };
  }
  return loaded;
}

/** A client for one account; nothing is connected until `start()`. */
export function createPuppet(creds: WechatyCredentials): PuppetLike {
  const { PuppetService, base64Type } = clientModules();
  const tls = creds.tls?.insecure
    ? { disable: true }
    : { ...(creds.tls?.server_name ? { serverName: creds.tls.server_name } : {}), ...(creds.tls?.ca_cert ? { caCert: creds.tls.ca_cert } : {}) };
  const puppet = new PuppetService({
    token: creds.token,
    ...(creds.endpoint ? { endpoint: creds.endpoint } : {}),
    tls,
    // The client's own watchdog would reset the puppet behind the gateway's back; the gateway watches
    // heartbeats and reconnects itself, so the client's is pushed out of the way.
    timeoutSeconds: 24 * 3600,
  });
  // The fork turns every file that is not a URL into a UUID box uploaded over a stream RPC that not every
  // server speaks (an upstream PuppetServer dies on it: NOCHUNK). Base64 boxes (the gateway makes them
  // for small files only, see files.ts) travel inline in the request, as the protocol also allows.
  const internals = puppet as unknown as { serializeFileBox(box: { type: number }): Promise<string> };
  const serialize = internals.serializeFileBox.bind(puppet);
  internals.serializeFileBox = async (box) => (box.type === base64Type ? JSON.stringify(box) : serialize(box));
  // Stopping the client must not stop the account at the provider: the client's stop() sends a Stop RPC,
  // and so does its own clean-up after a failed start, a call that waits for the channel and reaches a
  // provider coming back later. Only a deleted instance stops the provider's puppet (detachPuppet).
  const lifecycle = puppet as unknown as { onStop(): Promise<void>; _grpcManager?: { _client?: { stop: unknown } } };
  const onStop = lifecycle.onStop.bind(puppet);
  lifecycle.onStop = async () => {
    const client = lifecycle._grpcManager?._client;
    if (client && !stopsProvider.has(puppet)) client.stop = (_req: unknown, cb: (err: null) => void) => cb(null);
    return onStop();
  };
  return puppet;
}

/** Clients whose stop() may stop the hosted account (their instance was deleted). */
const stopsProvider = new WeakSet<object>();

/**
 * Stops a client without stopping the account at the provider: the Stop RPC (which stops the hosted
 * puppet) is skipped, the event stream and channel are closed, timers cleared, and the client's LevelDB
 * caches closed (a new client for the same token opens the same directories and would find them
 * locked). Used when the gateway reconnects, hands a session to another copy, or shuts down; never rejects.
 * `stopProvider`: send the Stop RPC too (the instance was deleted: the provider may stop hosting it).
 */
export async function detachPuppet(p: PuppetLike, opts: { stopProvider?: boolean; timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const internals = p as unknown as { _payloadStore?: { stop(): Promise<void>; miscellaneous?: { close(): Promise<void> } } };
  if (opts.stopProvider) stopsProvider.add(p);
  p.removeAllListeners();
  // Errors from a client being dropped are expected; without a listener they would be thrown.
  p.on('error', () => undefined);
  const bounded = (work: Promise<unknown>) => Promise.race([work.catch(() => undefined), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  await bounded(p.stop());
  await bounded(closeCaches(internals._payloadStore));
}

async function closeCaches(store: { stop(): Promise<void>; miscellaneous?: { close(): Promise<void> } } | undefined): Promise<void> {
  if (!store) return;
  await store.stop().catch(() => undefined);
  const misc = store.miscellaneous;
  store.miscellaneous = undefined;
  await misc?.close().catch(() => undefined);
}

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { wechatyCredentialsSchema, type WechatyCredentials } from '../../channels/channels';
import { GatewayError } from '../errors';
import type { CallbackSender } from '../simulator/callback-sender';
import type { InstanceStore, Owner } from './instance-store';
import { WechatySession, type SessionSettings } from './session';

export interface HostOptions {
  store: InstanceStore;
  callbacks: CallbackSender;
  settings: SessionSettings;
  log: Logger;
  /** This process's URL for the other copies (they forward requests for sessions it owns). */
  url: string;
  leaseMs: number;
}

/** Where an instance's session runs: here, in another copy, or nowhere (no such instance). */
export type Located = { here: WechatySession } | { remote: Owner } | { missing: true };

/**
 * The sessions this process hosts, one per account instance, many per process. Ownership through
 * leases in the instance store: a session runs where its lease is held; leases are renewed on a timer,
 * and sessions whose lease lapsed (their process died) and that should run are taken over by whichever
 * copy ticks first, so a restarted or killed gateway's accounts come back without the platform asking.
 */
export class SessionHost {
  readonly owner: Owner;
  private readonly sessions = new Map<string, WechatySession>();
  private readonly timer: NodeJS.Timeout;
  private ticking = false;
  private closed = false;

  constructor(private readonly o: HostOptions) {
    this.owner = { id: randomUUID(), url: o.url };
    this.timer = setInterval(() => void this.tick(), Math.max(200, Math.floor(o.leaseMs / 3)));
    this.timer.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** One credentials check for every way credentials come in. */
  static parseCredentials(raw: unknown): WechatyCredentials {
    const parsed = wechatyCredentialsSchema.safeParse(raw);
    if (!parsed.success) throw new GatewayError('permanent', 'bad_credentials', `credentials: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'credentials'} ${i.message}`).join('; ')}`);
    return parsed.data;
  }

  async create(label: string, rawCredentials: unknown): Promise<string> {
    return this.o.store.create(label, SessionHost.parseCredentials(rawCredentials));
  }

  /** Finds or takes the session of `guid`. */
  async locate(guid: string): Promise<Located> {
    const local = this.sessions.get(guid);
    if (local && !local.isClosed) return { here: local };
    const rec = await this.o.store.get(guid);
    if (!rec) return { missing: true };
    for (let i = 0; i < 2; i++) {
      if (await this.o.store.claim(guid, this.owner, this.o.leaseMs)) return { here: this.adopt(guid, rec.credentials) };
      const owner = await this.o.store.ownerOf(guid);
      if (owner) return { remote: owner };
    }
    throw new GatewayError('retryable', 'ownership_contended', 'the instance is changing owner; try again');
  }

  /** Starts hosting a session whose lease this process holds. */
  private adopt(guid: string, creds: WechatyCredentials): WechatySession {
    const existing = this.sessions.get(guid);
    if (existing && !existing.isClosed) return existing;
    const session = new WechatySession(guid, creds, this.o.settings, (type, payload) => this.o.callbacks.enqueue(guid, type, payload), this.o.log);
    this.sessions.set(guid, session);
    return session;
  }

  async setWanted(guid: string, wanted: boolean): Promise<void> {
    await this.o.store.setWanted(guid, wanted);
  }

  async updateCredentials(guid: string, rawCredentials: unknown): Promise<boolean> {
    const creds = SessionHost.parseCredentials(rawCredentials);
    if (!(await this.o.store.updateCredentials(guid, creds))) return false;
    await this.sessions.get(guid)?.replaceCredentials(creds);
    return true;
  }

  /** Forgets the instance; a session hosted here stops the account at the provider too. */
  async delete(guid: string): Promise<void> {
    const s = this.sessions.get(guid);
    this.sessions.delete(guid);
    await this.o.store.delete(guid);
    await s?.close({ stopProvider: true });
  }

  /** Local sessions, for status queries. */
  localSession(guid: string): WechatySession | undefined {
    return this.sessions.get(guid);
  }

  /** Renews leases, drops sessions whose lease was lost, takes over wanted sessions nobody holds. */
  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      const lost = await this.o.store.renew([...this.sessions.keys()], this.owner, this.o.leaseMs);
      for (const guid of lost) {
        const s = this.sessions.get(guid);
        this.sessions.delete(guid);
        this.o.log.warn({ guid }, 'wechaty: lease lost, session handed over');
        await s?.close();
      }
      for (const guid of await this.o.store.wanted()) {
        if (this.closed) break;
        const s = this.sessions.get(guid);
        if (s) {
          s.ensureConnected();
          continue;
        }
        if (!(await this.o.store.claim(guid, this.owner, this.o.leaseMs))) continue;
        const rec = await this.o.store.get(guid);
        if (!rec) {
          await this.o.store.release(guid, this.owner);
          continue;
        }
        this.o.log.info({ guid }, 'wechaty: taking over session');
        this.adopt(guid, rec.credentials).ensureConnected();
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'wechaty: lease tick failed');
    } finally {
      this.ticking = false;
    }
  }

  /** Runs one tick now (tests, start-up). */
  async tickNow(): Promise<void> {
    while (this.ticking) await new Promise((r) => setTimeout(r, 20));
    await this.tick();
  }

  /** Detaches every session (the accounts stay up at the provider) and hands the leases back. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.close()));
    await Promise.all(all.map((s) => this.o.store.release(s.guid, this.owner).catch(() => undefined)));
  }
}


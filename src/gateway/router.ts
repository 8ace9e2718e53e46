import type { Knex } from 'knex';
import type {
  GatewayClient,
  GatewayConversation,
  InstanceSpec,
  InstanceStatus,
  LoginProgress,
  LoginStart,
  MessageStatus,
  SendMessageRequest,
  SendMessageResult,
} from './types';

/**
 * Per-account routing to the gateway of the account's channel. Each channel is served by a
 * GatewayClient: an HTTP client of a gateway speaking the REST protocol (the simulator, the
 * gateway-wechaty role) or an in-process implementation registered with `register` (the official WeCom
 * API, issue 13). Code holding the account row picks the client with `for(account.channel)`; code that
 * only has a guid (the sender, the watchdog) calls the router itself, which resolves the guid's channel
 * from wework_accounts once and remembers it (a guid never changes channel: it was issued by one gateway).
 */
export class ChannelRouter implements GatewayClient {
  readonly baseUrl = 'channel-router';
  private readonly clients = new Map<string, GatewayClient>();
  /** guid → channel; bounded (oldest entries dropped), misses read the database. */
  private readonly channelOfGuid = new Map<string, string>();
  /** Lookups in flight, by guid. */
  private readonly resolving = new Map<string, Promise<string>>();

  constructor(
    private readonly db: Knex,
    private readonly defaultChannel: string,
    clients: Record<string, GatewayClient>,
    private readonly maxCached = 100_000,
  ) {
    for (const [ch, c] of Object.entries(clients)) this.clients.set(ch, c);
  }

  /** Serves `channel` with `client` (an in-process implementation, or a test double of a gateway URL). */
  register(channel: string, client: GatewayClient): void {
    this.clients.set(channel, client);
  }

  channels(): string[] {
    return [...this.clients.keys()];
  }

  for(channel: string | null | undefined): GatewayClient {
    const c = this.clients.get(channel ?? this.defaultChannel);
    if (!c) throw new Error(`no gateway serves channel "${channel}"`);
    return c;
  }

  private remember(guid: string, channel: string): void {
    if (this.channelOfGuid.size >= this.maxCached) this.channelOfGuid.delete(this.channelOfGuid.keys().next().value as string);
    this.channelOfGuid.set(guid, channel);
  }

  /** Channels of many guids (unknown guids: the default channel), one query for the misses. */
  async resolve(guids: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const misses: string[] = [];
    for (const g of guids) {
      const ch = this.channelOfGuid.get(g);
      if (ch) out.set(g, ch);
      else misses.push(g);
    }
    for (let i = 0; i < misses.length; i += 1000) {
      const rows: Array<{ guid: string; channel: string }> = await this.db('wework_accounts').select('guid', 'channel').whereIn('guid', misses.slice(i, i + 1000));
      for (const r of rows) {
        this.remember(r.guid, r.channel);
        out.set(r.guid, r.channel);
      }
    }
    for (const g of misses) if (!out.has(g)) out.set(g, this.defaultChannel);
    return out;
  }

  private async client(guid: string): Promise<GatewayClient> {
    const cached = this.channelOfGuid.get(guid);
    if (cached) return this.for(cached);
    // One lookup per guid however many sends ask at once: a task's first sends (an account's lanes all
    // starting together) would otherwise take as many pool connections as lanes, for the same row.
    let lookup = this.resolving.get(guid);
    if (!lookup) {
      lookup = this.resolve([guid])
        .then((m) => m.get(guid)!)
        .finally(() => this.resolving.delete(guid));
      this.resolving.set(guid, lookup);
    }
    return this.for(await lookup);
  }

  async createInstance(opts: InstanceSpec): Promise<{ guid: string }> {
    const channel = opts.channel ?? this.defaultChannel;
    const res = await this.for(channel).createInstance(opts);
    this.remember(res.guid, channel);
    return res;
  }

  async updateCredentials(guid: string, credentials: Record<string, unknown>): Promise<void> {
    return (await this.client(guid)).updateCredentials(guid, credentials);
  }

  async deleteInstance(guid: string): Promise<void> {
    return (await this.client(guid)).deleteInstance(guid);
  }

  async startLogin(guid: string): Promise<LoginStart> {
    return (await this.client(guid)).startLogin(guid);
  }

  async getLoginProgress(guid: string): Promise<LoginProgress> {
    return (await this.client(guid)).getLoginProgress(guid);
  }

  async submitVerifyCode(guid: string, code: string): Promise<LoginProgress> {
    return (await this.client(guid)).submitVerifyCode(guid, code);
  }

  async cancelLogin(guid: string): Promise<void> {
    return (await this.client(guid)).cancelLogin(guid);
  }

  async logout(guid: string): Promise<void> {
    return (await this.client(guid)).logout(guid);
  }

  async getStatus(guid: string): Promise<InstanceStatus> {
    return (await this.client(guid)).getStatus(guid);
  }

  /** One query per channel; a channel whose gateway fails makes the whole call fail (the watchdog counts it). */
  async getStatuses(guids: string[]): Promise<InstanceStatus[]> {
    const byChannel = new Map<string, string[]>();
    for (const [g, ch] of await this.resolve(guids)) byChannel.set(ch, [...(byChannel.get(ch) ?? []), g]);
    const parts = await Promise.all([...byChannel].map(([ch, gs]) => this.for(ch).getStatuses(gs)));
    return parts.flat();
  }

  async listConversations(guid: string): Promise<GatewayConversation[]> {
    return (await this.client(guid)).listConversations(guid);
  }

  async sendMessage(req: SendMessageRequest): Promise<SendMessageResult> {
    return (await this.client(req.guid)).sendMessage(req);
  }

  async queryMessageStatus(guid: string, messageIds: string[]): Promise<MessageStatus[]> {
    return (await this.client(guid)).queryMessageStatus(guid, messageIds);
  }

  async uploadMedia(guid: string, media: { fileName: string; contentType: string; data: Buffer }): Promise<{ fileId: string }> {
    return (await this.client(guid)).uploadMedia(guid, media);
  }

  async close(): Promise<void> {
    await Promise.all([...new Set(this.clients.values())].map((c) => c.close()));
  }
}

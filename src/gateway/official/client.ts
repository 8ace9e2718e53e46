import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { redisKey } from '../../redis';
import type { KeyRing } from '../../secrets/key-ring';
import type { FileStorage } from '../../storage/types';
import { GatewayError, isGatewayError } from '../errors';
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
} from '../types';
import { SendLedger } from '../wechaty/send-ledger';
import { AccessTokens, type TokenOwner } from './access-tokens';
import { appMessageBody, customerTemplateBody, mediaNeeded, targetOf } from './content';
import { OfficialCredentialStore, type OfficialAccount } from './credentials';
import { failedBeforeSending } from './errcodes';
import { groupSendStatus } from './group-send-status';
import { OfficialMedia } from './media';
import { OfficialPacer, type OfficialLimits } from './pacing';
import { WecomApi } from './wecom-api';

export interface OfficialClientOptions {
  db: Knex;
  redis: Redis;
  prefix: string;
  keyRing: KeyRing;
  storage: FileStorage;
  apiBase: string;
  timeoutMs: number;
  tokenRefreshMarginSeconds: number;
  rateLimitBackoffMs: number;
  limits: OfficialLimits;
}

/** Gateway message ids: `app:<msgid>` for app messages, `gs:<msgid>` for customer group-sends. */
const APP = 'app:';
const GROUP_SEND = 'gs:';
/** How long an account stays reported offline after WeCom refused its server's IP (60020); a login clears it. */
const FAULT_TTL_SECONDS = 24 * 3600;

/**
 * The `official` channel: WeCom's own server API, called in process (no gateway service). An account
 * is a self-built app of a corp; its "login" checks the credentials by fetching an access token and
 * reading the app (agent/get), so it goes online at once without QR steps. Sends are app messages to
 * members (`message/send`) or customer group-sends (`externalcontact/add_msg_template`), whose results
 * the reconciler reads later through `queryMessageStatus` (staff must confirm a group-send in the app).
 */
export class OfficialGatewayClient implements GatewayClient {
  readonly baseUrl: string;
  readonly api: WecomApi;
  readonly tokens: AccessTokens;
  private readonly accounts: OfficialCredentialStore;
  private readonly pacer: OfficialPacer;
  private readonly media: OfficialMedia;
  private readonly ledger: SendLedger;

  constructor(private readonly o: OfficialClientOptions) {
    this.baseUrl = o.apiBase;
    let api: WecomApi | undefined;
    this.tokens = new AccessTokens(o.redis, o.prefix, (owner) => api!.fetchToken(owner), { refreshMarginSeconds: o.tokenRefreshMarginSeconds });
    api = new WecomApi({ baseUrl: o.apiBase, timeoutMs: o.timeoutMs, rateLimitBackoffMs: o.rateLimitBackoffMs }, this.tokens);
    this.api = api;
    this.accounts = new OfficialCredentialStore(o.db, o.keyRing);
    this.pacer = new OfficialPacer(o.redis, o.prefix, o.limits);
    this.media = new OfficialMedia(o.db, o.storage, o.redis, o.prefix, api, (a) => this.pacer.takeApiCall(a.creds.corp_id, 'media/upload'));
    this.ledger = new SendLedger(o.redis, o.prefix);
  }

  private owner(a: OfficialAccount): TokenOwner {
    return { corpId: a.creds.corp_id, secret: a.creds.secret };
  }

  private faultKey(guid: string): string {
    return redisKey(this.o.prefix, 'wecom', 'fault', guid);
  }

  /** A paced call of the account's corp (api = the path below /cgi-bin/, the unit WeCom limits). */
  private async post(a: OfficialAccount, api: string, json: Record<string, unknown>) {
    await this.pacer.takeApiCall(a.creds.corp_id, api);
    return this.api.call(this.owner(a), { method: 'POST', path: `/cgi-bin/${api}`, json });
  }

  async createInstance(_opts: InstanceSpec): Promise<{ guid: string }> {
    // Nothing to host: the credentials are the account's sealed row, read by guid when needed.
    return { guid: `official_${randomUUID()}` };
  }

  async updateCredentials(guid: string): Promise<void> {
    this.accounts.forget(guid);
  }

  async deleteInstance(guid: string): Promise<void> {
    this.accounts.forget(guid);
    await this.o.redis.del(this.faultKey(guid));
  }

  /**
   * The "login": a token for the app (validates corp id and secret) and the app itself (validates the
   * agent id and, through WeCom's IP check, that this server may call the API). Every refusal here is
   * permanent for the attempt: the credentials or the admin console must change first.
   */
  async startLogin(guid: string): Promise<LoginStart> {
    this.accounts.forget(guid);
    const a = await this.accounts.of(guid);
    try {
      await this.pacer.takeApiCall(a.creds.corp_id, 'agent/get');
      const app = await this.api.call(this.owner(a), { method: 'GET', path: '/cgi-bin/agent/get', query: { agentid: String(a.creds.agent_id) } });
      await this.o.redis.del(this.faultKey(guid));
      return {
        state: 'online',
        reason: 'official_credentials_valid',
        userInfo: { channel: 'official', corp_id: a.creds.corp_id, agent_id: a.creds.agent_id, name: typeof app.name === 'string' ? app.name : null },
      };
    } catch (err) {
      if (isGatewayError(err) && err.kind === 'account_offline') throw new GatewayError('permanent', err.code, err.message);
      throw err;
    }
  }

  getLoginProgress(guid: string): Promise<LoginProgress> {
    return this.startLogin(guid) as Promise<LoginProgress>;
  }

  async submitVerifyCode(): Promise<LoginProgress> {
    throw new GatewayError('permanent', 'not_supported', 'the official channel has no verification code step');
  }

  async cancelLogin(): Promise<void> {}

  async logout(): Promise<void> {}

  async getStatus(guid: string): Promise<InstanceStatus> {
    return (await this.getStatuses([guid]))[0];
  }

  /** Online unless WeCom refused the account's calls for good (60020) since its last login. */
  async getStatuses(guids: string[]): Promise<InstanceStatus[]> {
    if (guids.length === 0) return [];
    const faults = await this.o.redis.mget(...guids.map((g) => this.faultKey(g)));
    const now = new Date();
    return guids.map((guid, i) => ({ guid, online: faults[i] === null, lastHeartbeat: faults[i] === null ? now : null }));
  }

  async listConversations(): Promise<GatewayConversation[]> {
    // Members, customers and customer groups arrive through WeCom's callbacks (change_external_contact, messages).
    return [];
  }

  async sendMessage(req: SendMessageRequest): Promise<SendMessageResult> {
    const a = await this.accounts.of(req.guid);
    const reserved = await this.ledger.reserve(req.guid, req.idempotencyKey);
    if (reserved.kind === 'exists') {
      if (reserved.entry.state === 'sent') return { gatewayMessageId: reserved.entry.messageId, duplicate: true };
      throw new GatewayError('outcome_unknown', 'outcome_unknown', 'an earlier attempt reached WeCom without an answer; it is not repeated');
    }
    let giveBack: (() => Promise<void>) | undefined;
    try {
      const target = targetOf(req.conversationId);
      const kind = mediaNeeded(req.content);
      const mediaId = kind ? await this.media.mediaIdOf(a, kind, req.content as { file_id?: string }) : undefined;
      let gatewayMessageId: string;
      if (target.kind === 'member') {
        await this.pacer.takeMemberMessage(a.creds.corp_id, a.creds.agent_id, target.userId);
        const ans = await this.post(a, 'message/send', { touser: target.userId, agentid: a.creds.agent_id, ...appMessageBody(req.content, mediaId) });
        if (String(ans.invaliduser ?? '').split('|').includes(target.userId)) {
          throw new GatewayError('permanent', 'invalid_user', `${target.userId} is not a member the app can reach (invaliduser)`);
        }
        gatewayMessageId = `${APP}${String(ans.msgid ?? '')}`;
      } else {
        const receiver = target.kind === 'customer' ? target.externalUserId : target.chatId;
        if (target.kind === 'customer_group' && !a.creds.sender_userid) {
          throw new GatewayError('permanent', 'sender_required', 'a customer group-send needs the sending member: set credentials.sender_userid');
        }
        giveBack = await this.pacer.takeCustomerReceive(a.creds.corp_id, receiver);
        const ans = await this.post(a, 'externalcontact/add_msg_template', {
          chat_type: target.kind === 'customer' ? 'single' : 'group',
          ...(target.kind === 'customer' ? { external_userid: [receiver] } : { chat_id_list: [receiver] }),
          ...(a.creds.sender_userid ? { sender: a.creds.sender_userid } : {}),
          ...customerTemplateBody(req.content, mediaId),
        });
        if (Array.isArray(ans.fail_list) && ans.fail_list.includes(receiver)) {
          throw new GatewayError('permanent', 'not_a_friend', `not sent: ${receiver} cannot receive it from this app's staff (fail_list)`);
        }
        gatewayMessageId = `${GROUP_SEND}${String(ans.msgid ?? '')}`;
      }
      await this.ledger.recordSent(req.guid, req.idempotencyKey, gatewayMessageId);
      return { gatewayMessageId, duplicate: false };
    } catch (err) {
      // WeCom answered (an errcode), a limit refused, or the request never left: nothing was sent, a retry may send.
      // A request whose answer was lost stays pending in the ledger: its retry ends `unknown`, never a second send.
      const lost = isGatewayError(err) && err.code === 'wecom_network' && !failedBeforeSending((err as { cause?: unknown }).cause);
      if (!lost) {
        await this.ledger.forget(req.guid, req.idempotencyKey);
        await giveBack?.().catch(() => undefined);
      }
      if (isGatewayError(err) && err.kind === 'account_offline' && err.code === 'wecom_60020') {
        await this.o.redis.set(this.faultKey(req.guid), err.message, 'EX', FAULT_TTL_SECONDS);
      }
      throw err;
    }
  }

  /**
   * App messages are final once WeCom accepted them (it reports no later receipt); customer group-sends
   * are read from WeCom: waiting while staff have not confirmed, then delivered or failed with the reason.
   */
  async queryMessageStatus(guid: string, messageIds: string[]): Promise<MessageStatus[]> {
    const a = await this.accounts.of(guid);
    const out: MessageStatus[] = [];
    for (const id of messageIds) {
      if (id.startsWith(APP)) out.push({ messageId: id, status: 'delivered' });
      else if (id.startsWith(GROUP_SEND)) out.push(await groupSendStatus((path, body) => this.post(a, path.replace('/cgi-bin/', ''), body), id, id.slice(GROUP_SEND.length)));
      else out.push({ messageId: id, status: 'unknown' });
    }
    return out;
  }

  async uploadMedia(guid: string, media: { fileName: string; contentType: string; data: Buffer }): Promise<{ fileId: string }> {
    const a = await this.accounts.of(guid);
    return { fileId: await this.media.upload(a, 'file', media) };
  }

  async close(): Promise<void> {}
}

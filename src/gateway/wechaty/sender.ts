import { GatewayError } from '../errors';
import type { MessageContent } from '../types';
import { classifySendError } from './mapping';
import type { PuppetLike } from './puppet-client';
import type { SendRecords } from './send-ledger';
import { withTimeout, type WechatySession } from './session';

/** A file the platform refers to by id or URL, as the client's FileBox. */
export type FileResolver = (guid: string, content: { file_id?: string; url?: string; file_name?: string }) => Promise<unknown>;

export interface SendOutcome {
  messageId: string;
  duplicate: boolean;
}

/**
 * Sends with the platform's idempotency key: reserve the key in the ledger, call the puppet, record the
 * provider's message id. See send-ledger.ts for what a repeated key answers.
 */
export class WechatySender {
  constructor(
    private readonly ledger: SendRecords,
    private readonly resolveFile: FileResolver,
    private readonly sendTimeoutMs: number,
  ) {}

  async send(session: WechatySession, key: string, conversationId: string, content: MessageContent): Promise<SendOutcome> {
    // A repeat of a key whose first request is still running here waits for it (registered before any
    // await, so two requests arriving together cannot both reach the ledger).
    const running = session.inflight.get(key);
    if (running) return { messageId: (await running).messageId, duplicate: true };
    // Offline: refuse before touching the ledger (nothing was attempted).
    const puppet = session.online();
    const p = this.reserveAndDeliver(session, puppet, key, conversationId, content);
    session.inflight.set(key, p);
    try {
      return await p;
    } finally {
      session.inflight.delete(key);
    }
  }

  private async reserveAndDeliver(session: WechatySession, puppet: PuppetLike, key: string, conversationId: string, content: MessageContent): Promise<SendOutcome> {
    const r = await this.ledger.reserve(session.guid, key);
    if (r.kind === 'exists') {
      if (r.entry.state === 'sent') return { messageId: r.entry.messageId, duplicate: true };
      throw new GatewayError('outcome_unknown', 'outcome_unknown', 'an earlier send with this key may have gone out; it is not repeated');
    }
    return { messageId: await this.deliver(session, puppet, key, conversationId, content), duplicate: false };
  }

  private async deliver(session: WechatySession, puppet: PuppetLike, key: string, conversationId: string, content: MessageContent): Promise<string> {
    const guid = session.guid;
    let call: () => Promise<string | void>;
    try {
      call = await this.prepare(guid, puppet, conversationId, content);
    } catch (err) {
      // Nothing left the gateway: a bad file reference or content the provider cannot carry.
      await this.ledger.forget(guid, key);
      throw err instanceof GatewayError ? err : new GatewayError('permanent', 'content_rejected', (err as Error).message);
    }
    let id: string | void;
    try {
      id = await withTimeout(call(), this.sendTimeoutMs, 'the provider did not answer the send in time');
    } catch (err) {
      if ((err as { timeout?: boolean }).timeout) {
        throw new GatewayError('outcome_unknown', 'outcome_unknown', 'the provider did not answer the send in time; it is not repeated');
      }
      const failure = classifySendError(err);
      if (failure.sent === 'no') await this.ledger.forget(guid, key);
      const e = failure.error;
      throw new GatewayError(e.kind, e.code, session.scrub(e.message), e.retryAfterMs);
    }
    // Some providers answer no id for some kinds; the key then stands in for it (unique per message).
    const messageId = id ? String(id) : `${guid}:${key}`;
    await this.ledger.recordSent(guid, key, messageId);
    return messageId;
  }

  private async prepare(guid: string, puppet: PuppetLike, conversationId: string, content: MessageContent): Promise<() => Promise<string | void>> {
    switch (content.type) {
      case 'text':
        return () => puppet.messageSendText(conversationId, content.text);
      case 'at':
        return () => puppet.messageSendText(conversationId, content.text, content.user_ids);
      case 'image':
      case 'file': {
        const box = await this.resolveFile(guid, content);
        return () => puppet.messageSendFile(conversationId, box);
      }
      case 'link':
        return () =>
          puppet.messageSendUrl(conversationId, {
            title: content.title,
            url: content.url,
            ...(content.description ? { description: content.description } : {}),
            ...(content.image_url ? { thumbnailUrl: content.image_url } : {}),
          });
      case 'miniprogram':
        return () =>
          puppet.messageSendMiniProgram(conversationId, {
            appid: content.app_id,
            title: content.title,
            pagePath: content.page_path,
            ...(content.thumb_url ? { thumbUrl: content.thumb_url } : {}),
          });
      default:
        throw new GatewayError('permanent', 'unsupported_type', `message type ${(content as { type: string }).type} is not supported`);
    }
  }
}

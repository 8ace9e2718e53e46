import { GatewayError } from '../errors';
import type { MessageContent } from '../types';

/**
 * The platform's message content as official API request bodies. Pure. Who receives is told by the
 * conversation id: a member's userid gets an app message (`message/send`), `external:<external_userid>`
 * a customer group-send of chat type single, `groupchat:<chat_id>` one of chat type group
 * (`externalcontact/add_msg_template`).
 */
export type OfficialTarget =
  | { kind: 'member'; userId: string }
  | { kind: 'customer'; externalUserId: string }
  | { kind: 'customer_group'; chatId: string };

export const CUSTOMER_PREFIX = 'external:';
export const CUSTOMER_GROUP_PREFIX = 'groupchat:';

export function targetOf(conversationId: string): OfficialTarget {
  if (conversationId.startsWith(CUSTOMER_PREFIX)) return { kind: 'customer', externalUserId: conversationId.slice(CUSTOMER_PREFIX.length) };
  if (conversationId.startsWith(CUSTOMER_GROUP_PREFIX)) return { kind: 'customer_group', chatId: conversationId.slice(CUSTOMER_GROUP_PREFIX.length) };
  return { kind: 'member', userId: conversationId };
}

/** The content needs a file uploaded first (`media/upload`): which kind of media. */
export function mediaNeeded(c: MessageContent): 'image' | 'file' | undefined {
  if (c.type === 'image') return 'image';
  if (c.type === 'file') return 'file';
  return undefined;
}

const unsupported = (what: string) => new GatewayError('permanent', 'unsupported_content', `the official API cannot send ${what}`);

/** WeCom's byte limits on text (2048 bytes for app text, 4000 for customer group-send text). */
function assertBytes(text: string, max: number): void {
  if (Buffer.byteLength(text, 'utf8') > max) throw new GatewayError('permanent', 'content_too_long', `text is longer than WeCom's ${max} bytes`);
}

/** Body of `message/send` to one member (without touser/agentid). */
export function appMessageBody(c: MessageContent, mediaId?: string): Record<string, unknown> {
  switch (c.type) {
    case 'text':
    case 'at':
      assertBytes(c.text, 2048);
      return { msgtype: 'text', text: { content: c.text } };
    case 'markdown':
      assertBytes(c.text, 2048);
      return { msgtype: 'markdown', markdown: { content: c.text } };
    case 'image':
      return { msgtype: 'image', image: { media_id: mediaId } };
    case 'file':
      return { msgtype: 'file', file: { media_id: mediaId } };
    case 'link':
      // With a picture it reads best as a news card; without, a text card (its description is required).
      if (c.image_url) return { msgtype: 'news', news: { articles: [{ title: c.title, description: c.description ?? '', url: c.url, picurl: c.image_url }] } };
      return { msgtype: 'textcard', textcard: { title: c.title, description: c.description || c.url, url: c.url, btntxt: '详情' } };
    case 'miniprogram':
      return { msgtype: 'miniprogram_notice', miniprogram_notice: { appid: c.app_id, page: c.page_path, title: c.title } };
  }
}

/** Body of `externalcontact/add_msg_template` (without chat type, receivers and sender). */
export function customerTemplateBody(c: MessageContent, mediaId?: string): Record<string, unknown> {
  switch (c.type) {
    case 'text':
    case 'at':
      assertBytes(c.text, 4000);
      return { text: { content: c.text } };
    case 'image':
      return { attachments: [{ msgtype: 'image', image: { media_id: mediaId } }] };
    case 'file':
      return { attachments: [{ msgtype: 'file', file: { media_id: mediaId } }] };
    case 'link':
      return { attachments: [{ msgtype: 'link', link: { title: c.title, url: c.url, desc: c.description, picurl: c.image_url } }] };
    case 'markdown':
      throw unsupported('markdown to customers (a group-send has text and attachments only)');
    case 'miniprogram':
      // add_msg_template wants the cover as an uploaded media id (pic_media_id), which a thumb URL is not.
      throw unsupported('a mini program to customers without a cover image uploaded as media');
  }
}

/** What a customer's group-send status (get_groupmsg_send_result) means for the message. */
export type CustomerSendStatus = { status: 'sent' } | { status: 'delivered' } | { status: 'failed'; code: string; reason: string };

/**
 * `status` of a send_list entry: 0 not sent (yet), 1 sent, 2 not a friend, 3 received another group-send
 * already. `staffDone`: the sending member's task is no longer waiting (get_groupmsg_task status 2), so a
 * customer still at 0 will not receive it.
 */
export function customerStatusOf(status: number, staffDone: boolean): CustomerSendStatus {
  switch (status) {
    case 1:
      return { status: 'delivered' };
    case 2:
      return { status: 'failed', code: 'not_a_friend', reason: 'not sent: the customer is not (or no longer) a friend of the staff member' };
    case 3:
      return { status: 'failed', code: 'receive_limit_reached', reason: 'not sent: the customer already received a group-send in this period (receive limit reached)' };
    default:
      return staffDone ? { status: 'failed', code: 'not_sent', reason: 'not sent: the staff member confirmed the group-send without this customer' } : { status: 'sent' };
  }
}

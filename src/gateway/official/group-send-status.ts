import type { MessageStatus } from '../types';
import { customerStatusOf, type CustomerSendStatus } from './content';
import type { WecomAnswer } from './wecom-api';

/**
 * Where one customer group-send (`msgid` of add_msg_template) stands: staff tasks from
 * `get_groupmsg_task`, each staff member's per-customer results from `get_groupmsg_send_result`, both
 * read page by page with their cursors. The platform sends one template per message (one customer or
 * one group), so the send's outcome is the outcome of that receiver.
 */
export type Post = (path: string, body: Record<string, unknown>) => Promise<WecomAnswer>;

const PAGE = 1000;
/** Pages read per list at most (1,000 each), so one message cannot hold the reconciler for long. */
const MAX_PAGES = 20;

async function* pages(post: Post, path: string, body: Record<string, unknown>, listField: string): AsyncGenerator<Array<Record<string, unknown>>> {
  let cursor = '';
  for (let i = 0; i < MAX_PAGES; i++) {
    const a = await post(path, { ...body, limit: PAGE, ...(cursor ? { cursor } : {}) });
    const list = Array.isArray(a[listField]) ? (a[listField] as Array<Record<string, unknown>>) : [];
    yield list;
    cursor = typeof a.next_cursor === 'string' ? a.next_cursor : '';
    if (!cursor) return;
  }
}

export async function groupSendStatus(post: Post, gatewayMessageId: string, msgid: string): Promise<MessageStatus> {
  // Staff members who were asked to send it, and whether each has confirmed (status 2) or not yet (0).
  const staff: Array<{ userid: string; done: boolean }> = [];
  for await (const list of pages(post, '/cgi-bin/externalcontact/get_groupmsg_task', { msgid }, 'task_list')) {
    for (const t of list) if (typeof t.userid === 'string') staff.push({ userid: t.userid, done: Number(t.status) === 2 });
  }
  const results: CustomerSendStatus[] = [];
  for (const s of staff) {
    for await (const list of pages(post, '/cgi-bin/externalcontact/get_groupmsg_send_result', { msgid, userid: s.userid }, 'send_list')) {
      for (const r of list) results.push(customerStatusOf(Number(r.status), s.done));
    }
  }
  return decide(gatewayMessageId, staff, results);
}

/** Delivered if any staff member sent it; failed when every answer is a failure; otherwise still waiting. */
export function decide(messageId: string, staff: Array<{ done: boolean }>, results: CustomerSendStatus[]): MessageStatus {
  if (results.some((r) => r.status === 'delivered')) return { messageId, status: 'delivered' };
  const failures = results.filter((r): r is Extract<CustomerSendStatus, { status: 'failed' }> => r.status === 'failed');
  if (results.length > 0 && failures.length === results.length) return { messageId, status: 'failed', errorCode: failures[0].code, errorMessage: failures[0].reason };
  if (results.length === 0 && staff.length > 0 && staff.every((s) => s.done)) {
    return { messageId, status: 'failed', errorCode: 'not_sent', errorMessage: 'not sent: the staff member confirmed the group-send without this customer' };
  }
  return { messageId, status: 'sent' };
}

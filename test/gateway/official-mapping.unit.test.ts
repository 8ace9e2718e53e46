import { appMessageBody, customerStatusOf, customerTemplateBody, targetOf } from '../../src/gateway/official/content';
import { classifyErrcode, errorOfErrcode } from '../../src/gateway/official/errcodes';
import { decide } from '../../src/gateway/official/group-send-status';

test('errcodes sort into token refresh, rate limit, account error, retryable and permanent', () => {
  expect([0, 40014, 42001, 45009, 45033, 45035, 60020, -1, 40001, 81013].map(classifyErrcode)).toEqual([
    'ok', 'token_expired', 'token_expired', 'rate_limited', 'rate_limited', 'rate_limited', 'account', 'retryable', 'permanent', 'permanent',
  ]);
  expect(errorOfErrcode(45009, 'api freq out of limit', 5000)).toMatchObject({ kind: 'rate_limited', code: 'wecom_45009', retryAfterMs: 5000 });
  const ip = errorOfErrcode(60020, 'not allow to access from your ip', 0);
  expect(ip).toMatchObject({ kind: 'account_offline', code: 'wecom_60020' });
  expect(ip.message).toMatch(/^this server's IP address is not in the app's trusted IP list.*; errcode 60020: not allow to access from your ip$/);
  expect(errorOfErrcode(40008, 'invalid message type', 0)).toMatchObject({ kind: 'permanent', code: 'wecom_40008', message: 'errcode 40008: invalid message type' });
});

test('conversation ids name the receiver: member, customer, customer group', () => {
  expect(targetOf('alice')).toEqual({ kind: 'member', userId: 'alice' });
  expect(targetOf('external:wmABC')).toEqual({ kind: 'customer', externalUserId: 'wmABC' });
  expect(targetOf('groupchat:wrXYZ')).toEqual({ kind: 'customer_group', chatId: 'wrXYZ' });
});

test('content maps to app message types and to group-send attachments', () => {
  expect(appMessageBody({ type: 'text', text: 'hi' })).toEqual({ msgtype: 'text', text: { content: 'hi' } });
  expect(appMessageBody({ type: 'image', file_id: 'f' }, 'M1')).toEqual({ msgtype: 'image', image: { media_id: 'M1' } });
  expect(appMessageBody({ type: 'link', title: 'T', url: 'https://x.test' })).toEqual({ msgtype: 'textcard', textcard: { title: 'T', description: 'https://x.test', url: 'https://x.test', btntxt: '详情' } });
  expect(appMessageBody({ type: 'link', title: 'T', url: 'https://x.test', image_url: 'https://x.test/p.png', description: 'd' })).toMatchObject({ msgtype: 'news' });
  expect(appMessageBody({ type: 'miniprogram', app_id: 'wx1', title: 'T', page_path: 'pages/a' })).toEqual({ msgtype: 'miniprogram_notice', miniprogram_notice: { appid: 'wx1', page: 'pages/a', title: 'T' } });
  expect(() => appMessageBody({ type: 'text', text: '字'.repeat(700) })).toThrow(/2048 bytes/);
  expect(customerTemplateBody({ type: 'file', file_id: 'f' }, 'M2')).toEqual({ attachments: [{ msgtype: 'file', file: { media_id: 'M2' } }] });
  expect(() => customerTemplateBody({ type: 'miniprogram', app_id: 'wx1', title: 'T', page_path: 'p' })).toThrow(/cannot send/);
});

test('a group-send waits for staff, then takes each customer status', () => {
  expect(customerStatusOf(0, false)).toEqual({ status: 'sent' });
  expect(customerStatusOf(0, true)).toMatchObject({ status: 'failed', code: 'not_sent' });
  expect(customerStatusOf(1, true)).toEqual({ status: 'delivered' });
  expect(customerStatusOf(2, false)).toMatchObject({ status: 'failed', code: 'not_a_friend' });
  expect(customerStatusOf(3, true)).toMatchObject({ status: 'failed', code: 'receive_limit_reached' });
  expect(decide('m', [{ done: false }], [{ status: 'sent' }])).toEqual({ messageId: 'm', status: 'sent' });
  expect(decide('m', [], [])).toEqual({ messageId: 'm', status: 'sent' });
  expect(decide('m', [{ done: true }], [])).toMatchObject({ status: 'failed', errorCode: 'not_sent' });
  expect(decide('m', [{ done: true }, { done: true }], [{ status: 'failed', code: 'not_a_friend', reason: 'r' }, { status: 'delivered' }])).toEqual({ messageId: 'm', status: 'delivered' });
});

test('markdown goes to members as an app message; customers cannot receive it', () => {
  expect(appMessageBody({ type: 'markdown', text: '**bold** [link](https://x.test)' })).toEqual({ msgtype: 'markdown', markdown: { content: '**bold** [link](https://x.test)' } });
  expect(() => customerTemplateBody({ type: 'markdown', text: '# h' })).toThrow(/cannot send markdown/);
});

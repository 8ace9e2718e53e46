import { groupByConversation, isIncomingMessage, previewOf, toDate } from '../../src/callbacks/incoming-messages';
import type { IncomingMessage } from '../../src/gateway/callback-protocol';

const msg = (conv: string, content: unknown, sentAt: number, extra: Partial<IncomingMessage> = {}): IncomingMessage => ({
  kind: 'incoming',
  conversation_id: conv,
  conversation_type: 'private',
  sender_id: 's',
  msg_id: `m${sentAt}`,
  content,
  sent_at: sentAt,
  ...extra,
});

test('previews: text, typed media, plain strings, long text cut', () => {
  expect(previewOf({ type: 'text', text: 'hi' })).toBe('hi');
  expect(previewOf({ type: 'image', url: 'x' })).toBe('[image]');
  expect(previewOf('plain')).toBe('plain');
  expect(previewOf(null)).toBe('');
  const long = previewOf('z'.repeat(600));
  expect(long).toHaveLength(500);
  expect(long.endsWith('…')).toBe(true);
});

test('sent_at in seconds or milliseconds; missing falls back', () => {
  const fallback = new Date('2026-01-01T00:00:00Z');
  expect(toDate(1_700_000_000, fallback).toISOString()).toBe('2023-11-14T22:13:20.000Z');
  expect(toDate(1_700_000_000_123, fallback).toISOString()).toBe('2023-11-14T22:13:20.123Z');
  expect(toDate(undefined, fallback)).toBe(fallback);
});

test('one update per conversation: count of messages, newest message as the last one whatever the order', () => {
  const updates = groupByConversation(
    [msg('a', 'second', 200), msg('b', 'only', 150, { conversation_type: 'group' }), msg('a', 'first', 100), msg('a', 'third', 300)],
    new Date(),
  );
  expect(updates).toHaveLength(2);
  expect(updates.find((u) => u.conversationId === 'a')).toMatchObject({ count: 3, lastMsgContent: 'third', lastMsgId: 'm300', conversationType: 'private' });
  expect(updates.find((u) => u.conversationId === 'b')).toMatchObject({ count: 1, conversationType: 'group' });
});

test('only well-formed incoming items are taken', () => {
  expect(isIncomingMessage(msg('a', 'x', 1))).toBe(true);
  expect(isIncomingMessage({ kind: 'receipt', msg_id: 'x' })).toBe(false);
  expect(isIncomingMessage({ kind: 'incoming', conversation_id: '' })).toBe(false);
  expect(isIncomingMessage({ kind: 'incoming', conversation_id: 'c'.repeat(101) })).toBe(false);
});

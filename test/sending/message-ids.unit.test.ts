import { newId } from '../../src/db/ids';
import { KeySet } from '../../src/domain/key-set';
import { MAX_POSITION, messageIdTime, taskMessageId } from '../../src/sending/message-ids';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('task message ids', () => {
  const task = '0193a4b2-7c1d-7e2f-9a3b-4c5d6e7f8a9b';
  const start = Date.UTC(2026, 10, 30, 12, 0, 0, 123);

  test('are UUID-shaped (version 8, RFC 4122 variant) and depend only on task, start and position', () => {
    const id = taskMessageId(task, start, 42);
    expect(id).toMatch(UUID);
    expect(taskMessageId(task, start, 42)).toBe(id);
    expect(taskMessageId(task, start, 43)).not.toBe(id);
    expect(id.replace(/-/g, '').slice(0, 12)).toBe(start.toString(16).padStart(12, '0'));
  });

  test('sort like the positions, so an expansion appends to its range of the primary key', () => {
    const positions = [0, 1, 2, 9, 10, 15, 16, 255, 256, 999_999, 1_000_000, 2 ** 32, MAX_POSITION];
    const ids = positions.map((p) => taskMessageId(task, start, p));
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(id).toMatch(UUID);
  });

  test('two tasks started in the same millisecond get different, non-overlapping ranges', () => {
    const other = '0193a4b2-7c1d-7e2f-9a3b-4c5d6e7f8a9c';
    const a = [taskMessageId(task, start, 0), taskMessageId(task, start, MAX_POSITION)];
    const b = [taskMessageId(other, start, 0), taskMessageId(other, start, MAX_POSITION)];
    expect(a[0] < b[0] ? a[1] < b[0] : b[1] < a[0]).toBe(true);
  });

  test('a later task start sorts after an earlier one', () => {
    expect(taskMessageId(task, start + 1, 0) > taskMessageId(task, start, MAX_POSITION)).toBe(true);
  });

  test('refuses positions outside 44 bits', () => {
    expect(() => taskMessageId(task, start, -1)).toThrow(RangeError);
    expect(() => taskMessageId(task, start, MAX_POSITION + 1)).toThrow(RangeError);
    expect(() => taskMessageId(task, start, 1.5)).toThrow(RangeError);
  });
});

describe('KeySet', () => {
  test('adds each key once and grows past its initial capacity', () => {
    const s = new KeySet(4);
    let added = 0;
    for (let i = 0; i < 50_000; i += 1) if (s.add(`conv-${i}`)) added += 1;
    expect(added).toBe(50_000);
    expect(s.size).toBe(50_000);
    let again = 0;
    for (let i = 0; i < 50_000; i += 7) if (s.add(`conv-${i}`)) again += 1;
    expect(again).toBe(0);
    expect(s.size).toBe(50_000);
    expect(s.add('conv-50000')).toBe(true);
  });

  test('keys differing only in case or by a separator are different members', () => {
    const s = new KeySet();
    expect(s.add('acc/Conv')).toBe(true);
    expect(s.add('acc/conv')).toBe(true);
    expect(s.add('acc/conv')).toBe(false);
    expect(s.add('accconv')).toBe(true);
    expect(s.add('')).toBe(true);
    expect(s.add('')).toBe(false);
  });
});

test('the time an id carries: a task id its task start, a UUIDv7 its making; none for another shape', () => {
  const start = Date.UTC(2026, 10, 30, 20, 15, 0, 123);
  expect(messageIdTime(taskMessageId('task-1', start, 12345))).toBe(start);
  const before = Date.now();
  const single = newId();
  expect(messageIdTime(single)).toBeGreaterThanOrEqual(before);
  expect(messageIdTime(single)).toBeLessThanOrEqual(Date.now());
  expect(messageIdTime('sim-msg-0123456789abcdef01234567')).toBeNull();
  expect(messageIdTime('not an id')).toBeNull();
});

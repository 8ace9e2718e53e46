import { TimerHeap } from '../../src/sending/timer-heap';

/** The shared timer of the send scheduler: many sleepers, one timer, nobody woken early. */

test('a thousand sleepers wake in time order, none before its time, with one timer armed at a time', async () => {
  const heap = new TimerHeap();
  const start = Date.now();
  const woke: Array<{ due: number; at: number }> = [];
  // Due times shuffled, several equal, all within 60 ms of each other.
  const dues = Array.from({ length: 1000 }, (_, i) => start + 300 + ((i * 37) % 60));
  const sleeps = dues.map((due) => heap.sleepUntil(due).then(() => woke.push({ due, at: Date.now() })));
  expect(heap.size).toBe(1000);
  expect(heap.armed).toBe(true);
  await Promise.all(sleeps);
  expect(woke).toHaveLength(1000);
  for (const w of woke) expect(w.at).toBeGreaterThanOrEqual(w.due);
  const order = woke.map((w) => w.due);
  expect(order).toEqual([...order].sort((a, b) => a - b));
  expect(heap.size).toBe(0);
  expect(heap.armed).toBe(false);
});

test('a sleep due now or in the past resolves without arming the timer', async () => {
  const heap = new TimerHeap();
  await heap.sleepUntil(Date.now() - 1);
  await heap.sleep(0);
  expect(heap.armed).toBe(false);
});

test('a later sleeper does not delay an earlier one that arrives after it', async () => {
  const heap = new TimerHeap();
  const t0 = Date.now();
  const late = heap.sleepUntil(t0 + 5_000);
  let earlyAt = 0;
  await heap.sleepUntil(t0 + 20).then(() => (earlyAt = Date.now()));
  expect(earlyAt).toBeGreaterThanOrEqual(t0 + 20);
  expect(earlyAt - t0).toBeLessThan(4_000);
  expect(heap.size).toBe(1);
  heap.close();
  await late;
});

test('close wakes every sleeper at once, and later sleeps do not wait', async () => {
  const heap = new TimerHeap();
  const t0 = Date.now();
  const sleeps = [heap.sleep(60_000), heap.sleep(120_000)];
  heap.close();
  await Promise.all(sleeps);
  await heap.sleep(60_000);
  expect(Date.now() - t0).toBeLessThan(5_000);
  expect(heap.armed).toBe(false);
});

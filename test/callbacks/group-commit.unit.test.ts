import { GroupCommitter, OverloadedError } from '../../src/callbacks/group-commit';

/** The batching logic on its own (the writer is a recorder of the batches it is handed). */
function recorder(delayMs = 5) {
  const batches: number[][] = [];
  let running = 0;
  let maxRunning = 0;
  const flush = async (items: number[]) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    batches.push(items);
    await new Promise((r) => setTimeout(r, delayMs));
    running--;
    if (items.includes(-1)) throw new Error('write failed');
    return items.map((i) => i * 10);
  };
  return { flush, batches, maxRunning: () => maxRunning };
}

test('items submitted together are written together, each caller gets its own result', async () => {
  const r = recorder();
  const gc = new GroupCommitter(r.flush, { maxBatch: 100, maxInFlight: 1, maxPending: 1000 });
  const results = await Promise.all([1, 2, 3, 4].map((i) => gc.submit(i)));
  expect(results).toEqual([10, 20, 30, 40]);
  expect(r.batches).toEqual([[1, 2, 3, 4]]);
});

test('while a flush runs, arrivals pile up into the next batch; maxBatch and maxInFlight hold', async () => {
  const r = recorder(10);
  const gc = new GroupCommitter(r.flush, { maxBatch: 3, maxInFlight: 2, maxPending: 1000 });
  const all = Array.from({ length: 10 }, (_, i) => gc.submit(i));
  expect(await Promise.all(all)).toEqual(Array.from({ length: 10 }, (_, i) => i * 10));
  expect(r.batches.every((b) => b.length <= 3)).toBe(true);
  expect(r.batches.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i));
  expect(r.maxRunning()).toBe(2);
});

test('batches stay under maxBatchBytes; an item larger than that still goes, alone', async () => {
  const r = recorder();
  const gc = new GroupCommitter(r.flush, { maxBatch: 100, maxInFlight: 1, maxPending: 1000, maxBatchBytes: 100, sizeOf: (i) => i as number });
  await Promise.all([40, 50, 30, 500, 20].map((i) => gc.submit(i)));
  expect(r.batches).toEqual([[40, 50], [30], [500], [20]]);
});

test('a failed write rejects its callers only; later batches still succeed', async () => {
  const r = recorder();
  const gc = new GroupCommitter(r.flush, { maxBatch: 2, maxInFlight: 1, maxPending: 1000 });
  const outcomes = await Promise.allSettled([1, -1, 3, 4].map((i) => gc.submit(i)));
  expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
});

test('beyond maxPending (items or bytes) submissions are refused at once, not queued', async () => {
  const r = recorder(20);
  const byCount = new GroupCommitter(r.flush, { maxBatch: 1, maxInFlight: 1, maxPending: 2 });
  const first = [byCount.submit(1), byCount.submit(2)];
  await expect(byCount.submit(3)).rejects.toBeInstanceOf(OverloadedError);
  await Promise.all(first);

  const byBytes = new GroupCommitter(r.flush, { maxBatch: 1, maxInFlight: 1, maxPending: 100, maxPendingBytes: 100, sizeOf: (i) => i as number });
  const ok = byBytes.submit(60);
  await expect(byBytes.submit(50)).rejects.toBeInstanceOf(OverloadedError);
  await ok;
  // Once flushed, the bytes are free again.
  await expect(byBytes.submit(50)).resolves.toBe(500);
});

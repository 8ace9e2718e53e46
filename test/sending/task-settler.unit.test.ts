import { mergeFlushed } from '../../src/sending/task-outcomes';
import type { FlushedTask } from '../../src/sending/status-writer';

/** The streak a settle carries, applied flush by flush (the rule of settleTask): reset on a success, else added to. */
function carry(streak: number, f: FlushedTask): number {
  return f.hadSuccess ? f.errorsAfter : streak + f.errorsAfter;
}

const flush = (hadSuccess: boolean, errorsAfter: number, lastError?: string): FlushedTask => ({ tenantId: 't', hadSuccess, errorsAfter, lastError });

test('folding flushes into one deferred settle carries the same error streak as settling each in turn', () => {
  const shapes = [flush(true, 0), flush(true, 2, 'e1'), flush(false, 3, 'e2'), flush(false, 0), flush(true, 1, 'e3')];
  // Every sequence of up to four flushes, from every starting streak.
  const sequences: FlushedTask[][] = [[]];
  for (let n = 0; n < 4; n += 1) for (const seq of sequences.filter((s) => s.length === n)) for (const f of shapes) sequences.push([...seq, f]);
  for (const seq of sequences.filter((s) => s.length > 0)) {
    const folded = seq.reduce(mergeFlushed);
    for (const start of [0, 4]) expect(carry(start, folded)).toBe(seq.reduce(carry, start));
    const lastError = [...seq].reverse().find((f) => f.lastError)?.lastError;
    expect(folded.lastError).toBe(lastError);
  }
});

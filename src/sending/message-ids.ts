import { createHash } from 'node:crypto';

/**
 * Ids of a task's messages: UUID-shaped (version 8, RFC 4122 variant) and ordered like the task's
 * targets, so an expansion only ever appends to the end of its task's range of the primary key:
 *
 *   48 bits  the task's start time (ms): the same prefix as its rows' created_at, so tasks follow one
 *            another in the primary key like UUIDv7 rows do
 *   30 bits  a hash of the task id: tasks started in the same millisecond get ranges of their own
 *   44 bits  the target's position in the task's source (what `expansion_cursor` counts)
 *
 * The id depends only on (task, start, position), so an expansion chunk re-run after a crash produces the
 * same ids and its INSERT IGNORE adds nothing twice. Repeated targets are dropped before ids are given
 * (see expand.ts), not by the primary key.
 */
export const MAX_POSITION = 2 ** 44 - 1;

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0');

/** The id maker of one task: everything but the position is computed once. */
export function taskMessageIds(taskId: string, taskStartMs: number): (position: number) => string {
  const t = hex(Math.max(0, Math.floor(taskStartMs)), 12).slice(-12);
  const k = createHash('sha1').update(taskId).digest().readUInt32BE(0) >>> 2; // 30 bits
  // After the version nibble: 12 task bits | variant (2 bits) + 2 task bits | 12 task bits | 4 task bits + 44 position bits.
  const prefix = `${t.slice(0, 8)}-${t.slice(8, 12)}-8${hex(k >>> 18, 3)}-${((0b10 << 2) | ((k >>> 16) & 0b11)).toString(16)}${hex((k >>> 4) & 0xfff, 3)}-`;
  const high = (k & 0xf) * 2 ** 44;
  return (position) => {
    if (!Number.isInteger(position) || position < 0 || position > MAX_POSITION) throw new RangeError(`position ${position} out of range`);
    return prefix + hex(high + position, 12);
  };
}

/** The time a task's message ids (and their rows' created_at) are made from: its start, else its creation. */
export function taskIdTime(task: { start_time: Date | null; created_at: Date }): Date {
  return task.start_time ?? task.created_at;
}

/** The first and last id a task's messages can have: its whole range of the primary key. */
export function taskIdRange(taskId: string, taskStartMs: number): { first: string; last: string } {
  const idAt = taskMessageIds(taskId, taskStartMs);
  return { first: idAt(0), last: idAt(MAX_POSITION) };
}

export function taskMessageId(taskId: string, taskStartMs: number, position: number): string {
  return taskMessageIds(taskId, taskStartMs)(position);
}

/**
 * The time (ms) a message id starts with: task ids carry their task's start, which is their rows'
 * `created_at`; single messages are UUIDv7, made in the request that stamps `created_at`. Null for an id
 * of another shape.
 */
export function messageIdTime(id: string): number | null {
  const hex = `${id.slice(0, 8)}${id.slice(9, 13)}`;
  return id[8] === '-' && /^[0-9a-f]{12}$/i.test(hex) ? parseInt(hex, 16) : null;
}

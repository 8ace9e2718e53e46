/**
 * Batch task lifecycle: created → running → paused ↔ running → completed / failed / cancelled.
 * Pure: callers ask whether a step is legal and write it with a conditional UPDATE on the old state.
 */
import { InvalidTransitionError } from '../errors';

export const TASK_STATUSES = ['created', 'running', 'paused', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Operator and system actions on a task. */
export type TaskAction = 'start' | 'pause' | 'resume' | 'cancel' | 'complete' | 'fail' | 'auto_pause';

const TRANSITIONS: Record<TaskAction, { from: readonly TaskStatus[]; to: TaskStatus }> = {
  start: { from: ['created'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  // The error threshold pauses a running task by itself; same edge as pause, kept apart for auditing.
  auto_pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  cancel: { from: ['created', 'running', 'paused'], to: 'cancelled' },
  complete: { from: ['running'], to: 'completed' },
  fail: { from: ['created', 'running', 'paused'], to: 'failed' },
};

export const isTerminal = (s: TaskStatus) => s === 'completed' || s === 'failed' || s === 'cancelled';

export function canApply(current: TaskStatus, action: TaskAction): boolean {
  return TRANSITIONS[action].from.includes(current);
}

/** The state `action` leads to from `current`, or a 409 InvalidTransitionError naming the current state. */
export function nextTaskStatus(current: TaskStatus, action: TaskAction): TaskStatus {
  const t = TRANSITIONS[action];
  if (!t.from.includes(current)) throw new InvalidTransitionError('task', current, t.to);
  return t.to;
}

/** Which states an action may leave from (for the conditional UPDATE). */
export const allowedFrom = (action: TaskAction): readonly TaskStatus[] => TRANSITIONS[action].from;

/** A finished task whose every message failed counts as failed rather than completed. */
export function finalStatus(counts: { success: number; failed: number }): 'completed' | 'failed' {
  return counts.success === 0 && counts.failed > 0 ? 'failed' : 'completed';
}

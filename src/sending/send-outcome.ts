/** What became of one send attempt; the status writer turns a batch of these into few multi-row UPDATEs. */
export type SendOutcome =
  | { kind: 'sent'; gatewayMessageId: string }
  /** Try again later (retryable error within policy): back to pending with a due time; counts as an error. */
  | { kind: 'retry'; retryAt: Date; errorCode: string; errorMessage: string }
  /** Not the message's fault (account offline, rate limited): back to pending as is; not an error. */
  | { kind: 'requeue' }
  | { kind: 'failed'; errorCode: string; errorMessage: string }
  /** The gateway cannot tell whether an earlier attempt went out and will not repeat it: terminal, counted apart. */
  | { kind: 'unknown'; errorCode: string; errorMessage: string }
  /** Never sent, by rule (the recipient frequency cap): ends `skipped` with the reason as error code; neither sent nor an error. */
  | { kind: 'skipped'; reason: string; message: string }
  /** Claimed, but its task was cancelled before the send: never sent. */
  | { kind: 'cancelled' }
  /** Claimed, but its task was paused before the send: back to pending, not an error. */
  | { kind: 'held' };

export interface SendResult {
  id: string;
  createdAt: Date;
  taskId: string | null;
  tenantId: string;
  outcome: SendOutcome;
}

/**
 * Which recorded failures a retry would meet again. A message fails for good either because the gateway
 * said so for this recipient or content (these codes), or because a transient error outlived the task's
 * retry policy; only the second kind is worth another task by default.
 */
export const PERMANENT_FAILURE_CODES: readonly string[] = [
  // The recipient cannot be reached through this account: gone, not (or no longer) a contact, blocking.
  'target_not_found',
  'not_friend',
  'contact_not_found',
  'recipient_blocked',
  // The content itself is refused: sending it again is refused again.
  'content_rejected',
];

export const isPermanentFailure = (errorCode: string | null | undefined) => errorCode !== null && errorCode !== undefined && PERMANENT_FAILURE_CODES.includes(errorCode);

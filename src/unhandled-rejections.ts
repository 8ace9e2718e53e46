import { logger } from './logger';

/** The `event` field of the log line below; fault runs count these lines (the target is zero). */
export const UNHANDLED_REJECTION_EVENT = 'unhandled_rejection';

/**
 * Last-resort net for a process role: every promise has an owner that handles its failure where it
 * happens, so this should never fire. If it does, that is a bug to fix; it is logged at error level
 * instead of letting Node end the process over a transient MySQL or Redis outage.
 */
export function installUnhandledRejectionNet(): void {
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason, event: UNHANDLED_REJECTION_EVENT }, 'unhandled promise rejection (a bug: this promise has no owner)');
  });
}

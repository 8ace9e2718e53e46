import { applyAccountCallback } from '../accounts/callbacks';
import type { AppContext } from '../context';
import type { DeliveryReceipt, GatewayCallback } from '../gateway/callback-protocol';
import { applyDeliveryReceipts } from '../sending/receipts';

/**
 * What callback processing hands events to. The account state machine (accounts module) and the
 * delivery-receipt handler (sending module) own their domain rules; processing only routes. Both must
 * be safe to call twice with the same event (the claim makes that rare, a crash between apply and
 * finish makes it possible). A thrown error fails the attempt and the queue retries it.
 */
export interface CallbackHandlers {
  /**
   * notify_type 1 (online), 2 (offline), 7 (login progress). May answer `{ handled: false, outcome }`
   * (e.g. unknown guid): the event is then kept as ignored with that outcome.
   */
  account?: (ctx: AppContext, callback: GatewayCallback) => Promise<unknown>;
  /** Receipts of notify_type 3: message delivered/failed, named by its id (`client_msg_id`) or the gateway's. */
  receipts?: (ctx: AppContext, guid: string, receipts: DeliveryReceipt[]) => Promise<unknown>;
}

/** The handlers the worker role uses. */
export function defaultCallbackHandlers(): CallbackHandlers {
  return {
    account: (ctx, callback) => applyAccountCallback(ctx, callback),
    // A receipt that overtakes the sender's status write is kept (pending_receipts) and applied when
    // the write lands (src/sending/receipts.ts).
    receipts: (ctx, guid, receipts) => applyDeliveryReceipts(ctx, guid, receipts),
  };
}

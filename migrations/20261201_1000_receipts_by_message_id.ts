import type { Knex } from 'knex';

/**
 * Delivery receipts find their message by its id (issue 17). Gateways name the send's idempotency key,
 * which is the message id, in each receipt (`client_msg_id`), so:
 *
 * - `messages` loses `idx_wework_msg_id`. Every send wrote the gateway's id into it at a random place;
 *   on a million-message task it outgrew the stock 128 MB buffer pool and each send read a leaf page
 *   from disk (the last tenth of an unthrottled send ran at 0.65 of the first; docs/database.md).
 *   A receipt without the key is matched among the account's `sent` messages (idx_account_claim).
 * - `pending_receipts` (receipts that overtook the status write) is keyed by (account, message id).
 *   Rows kept under the old scheme get their message id where the gateway's id is recorded by now; the
 *   others (still waiting for their send's status) cannot be tied to a message without the key and are
 *   dropped: the reconciliation job asks the gateway about those messages once they are `sent`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE pending_receipts ADD COLUMN message_id VARCHAR(36) NULL COMMENT 'the message the receipt names (messages.id)' AFTER account_id`);
  await knex.raw(`UPDATE pending_receipts p JOIN messages m ON m.account_id = p.account_id AND m.wework_msg_id = p.wework_msg_id SET p.message_id = m.id`);
  await knex.raw(`DELETE FROM pending_receipts WHERE message_id IS NULL`);
  await knex.raw(`ALTER TABLE pending_receipts
    MODIFY message_id VARCHAR(36) NOT NULL COMMENT 'the message the receipt names (messages.id)',
    MODIFY wework_msg_id VARCHAR(100) NOT NULL COMMENT 'the gateway message id the receipt also names',
    DROP PRIMARY KEY,
    ADD PRIMARY KEY (account_id, message_id),
    DROP KEY idx_wework_msg_id`);
  await knex.raw(`ALTER TABLE messages DROP KEY idx_wework_msg_id`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE messages ADD KEY idx_wework_msg_id (wework_msg_id)`);
  await knex.raw(`ALTER TABLE pending_receipts
    DROP PRIMARY KEY,
    ADD PRIMARY KEY (account_id, wework_msg_id),
    ADD KEY idx_wework_msg_id (wework_msg_id),
    DROP COLUMN message_id`);
}

import type { Knex } from 'knex';
import * as foundation from './20261123_0001_foundation';
import * as sending0200 from './20261123_0200_sending';
import * as messagesDropStatusScheduled from './20261123_0201_messages_drop_status_scheduled';
import * as callbacks0300 from './20261123_0300_callbacks';
import * as cronRunsAndFiles from './20261123_0400_cron_runs_and_files';
import * as statisticsResponseCount from './20261123_0401_statistics_response_count';
import * as channels1000 from './20261130_1000_channels';
import * as messagesIndexBudget from './20261130_1700_messages_index_budget';
import * as revokeOrphanedApiKeys from './20261130_1900_revoke_orphaned_api_keys';
import * as taskRetryOf from './20261130_2000_task_retry_of';
import * as taskCounters from './20261130_2100_task_counters';
import * as usersTokenVersion from './20261130_2200_users_token_version';
import * as pendingReceipts from './20261130_2300_pending_receipts';

import * as messagesKeysetIndexes from './20261130_2350_messages_keyset_indexes';
import * as webhooks0100 from './20261201_0100_webhooks';
import * as campaignControls from './20261201_0200_campaign_controls';
import * as wecomContacts from './20261201_0300_wecom_contacts';
import * as messagesMarkdown from './20261201_0301_messages_markdown';
import * as channelCredentialsLookup from './20261201_0600_channel_credentials_lookup';
import * as messagesClaimSchedule from './20261201_0800_messages_claim_schedule';
import * as webhookDeliveriesRetention from './20261201_0900_webhook_deliveries_retention';
import * as receiptsByMessageId from './20261201_1000_receipts_by_message_id';
/**
 * Every migration, in order. Listed explicitly (not discovered on disk) so the same code runs from
 * TypeScript sources, compiled output and tests alike. Never edit a merged migration: add a new one.
 */
export const MIGRATIONS: ReadonlyArray<[name: string, migration: Knex.Migration]> = [
  ['20261123_0001_foundation', foundation],
  ['20261123_0200_sending', sending0200],
  ['20261123_0201_messages_drop_status_scheduled', messagesDropStatusScheduled],
  ['20261123_0300_callbacks', callbacks0300],
  ['20261123_0400_cron_runs_and_files', cronRunsAndFiles],
  ['20261123_0401_statistics_response_count', statisticsResponseCount],
  ['20261130_1000_channels', channels1000],
  ['20261130_1700_messages_index_budget', messagesIndexBudget],
  ['20261130_1900_revoke_orphaned_api_keys', revokeOrphanedApiKeys],
  ['20261130_2000_task_retry_of', taskRetryOf],
  ['20261130_2100_task_counters', taskCounters],
  ['20261130_2200_users_token_version', usersTokenVersion],
  ['20261130_2300_pending_receipts', pendingReceipts],
  ['20261130_2350_messages_keyset_indexes', messagesKeysetIndexes],
  ['20261201_0100_webhooks', webhooks0100],
  ['20261201_0200_campaign_controls', campaignControls],
  ['20261201_0300_wecom_contacts', wecomContacts],
  ['20261201_0301_messages_markdown', messagesMarkdown],
  ['20261201_0600_channel_credentials_lookup', channelCredentialsLookup],
  ['20261201_0800_messages_claim_schedule', messagesClaimSchedule],
  ['20261201_0900_webhook_deliveries_retention', webhookDeliveriesRetention],
  ['20261201_1000_receipts_by_message_id', receiptsByMessageId],
];

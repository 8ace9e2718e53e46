import type { Knex } from 'knex';
import { partitionClause } from '../src/db/partitions';

/**
 * The whole schema of the primary design (tenants … message_statistics) plus what access control needs
 * (api_keys, refresh_tokens, audit_logs). Times are DATETIME(3) in UTC (the pool pins time_zone).
 * Partitioned tables start with only the catch-all p_max partition so this DDL is the same whenever it
 * runs; `maintainAllPartitions` (run by `npm run migrate` and the partition cron) splits out monthly ones.
 * Partitioned tables carry the partition column in every unique key and have no foreign keys (MySQL rules).
 */
const TABLE_OPTS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci';
const NOW = 'DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)';
const UPDATED = 'DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)';

const statements = [
  `CREATE TABLE tenants (
  id VARCHAR(36) NOT NULL,
  tenant_code VARCHAR(50) NOT NULL,
  tenant_name VARCHAR(100) NOT NULL,
  contact_person VARCHAR(50) DEFAULT NULL,
  contact_phone VARCHAR(20) DEFAULT NULL,
  contact_email VARCHAR(100) DEFAULT NULL,
  plan VARCHAR(20) NOT NULL DEFAULT 'standard',
  timezone VARCHAR(64) NOT NULL DEFAULT 'Asia/Shanghai',
  max_accounts INT NOT NULL DEFAULT 10,
  max_daily_messages INT NOT NULL DEFAULT 10000,
  webhook_url VARCHAR(500) DEFAULT NULL,
  config JSON DEFAULT NULL,
  status ENUM('active','suspended','deleted') NOT NULL DEFAULT 'active',
  created_at ${NOW},
  updated_at ${UPDATED},
  PRIMARY KEY (id),
  UNIQUE KEY uk_tenant_code (tenant_code),
  KEY idx_status (status),
  KEY idx_created_at (created_at)
) ${TABLE_OPTS} COMMENT='tenants'`,

  `CREATE TABLE users (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  username VARCHAR(50) NOT NULL,
  email VARCHAR(100) NOT NULL,
  phone VARCHAR(20) DEFAULT NULL,
  real_name VARCHAR(50) DEFAULT NULL,
  avatar_url VARCHAR(500) DEFAULT NULL,
  password_hash VARCHAR(255) NOT NULL COMMENT 'argon2id, salt embedded',
  status ENUM('active','inactive','locked','deleted') NOT NULL DEFAULT 'active',
  last_login_time DATETIME(3) DEFAULT NULL,
  last_login_ip VARCHAR(45) DEFAULT NULL,
  failed_login_count INT NOT NULL DEFAULT 0,
  locked_until DATETIME(3) DEFAULT NULL,
  created_at ${NOW},
  updated_at ${UPDATED},
  PRIMARY KEY (id),
  UNIQUE KEY uk_tenant_username (tenant_id, username),
  UNIQUE KEY uk_tenant_email (tenant_id, email),
  KEY idx_tenant_status_login (tenant_id, status, last_login_time),
  KEY idx_email (email),
  CONSTRAINT fk_users_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
) ${TABLE_OPTS} COMMENT='operators'`,

  `CREATE TABLE roles (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  role_code VARCHAR(50) NOT NULL,
  role_name VARCHAR(100) NOT NULL,
  description VARCHAR(500) DEFAULT NULL,
  permissions JSON NOT NULL,
  is_system TINYINT(1) NOT NULL DEFAULT 0,
  is_active TINYINT(1) NOT NULL DEFAULT 1,
  created_at ${NOW},
  updated_at ${UPDATED},
  PRIMARY KEY (id),
  UNIQUE KEY uk_tenant_role_code (tenant_id, role_code),
  KEY idx_tenant_active (tenant_id, is_active),
  CONSTRAINT fk_roles_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
) ${TABLE_OPTS} COMMENT='roles with permission lists'`,

  `CREATE TABLE user_roles (
  id BIGINT NOT NULL AUTO_INCREMENT,
  user_id VARCHAR(36) NOT NULL,
  role_id VARCHAR(36) NOT NULL,
  assigned_by VARCHAR(36) NOT NULL,
  assigned_at ${NOW},
  PRIMARY KEY (id),
  UNIQUE KEY uk_user_role (user_id, role_id),
  KEY idx_role_id (role_id),
  CONSTRAINT fk_user_roles_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT fk_user_roles_role FOREIGN KEY (role_id) REFERENCES roles (id) ON DELETE CASCADE
) ${TABLE_OPTS} COMMENT='user to role assignments'`,

  `CREATE TABLE refresh_tokens (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  user_id VARCHAR(36) NOT NULL,
  family_id VARCHAR(36) NOT NULL COMMENT 'all rotations of one login; reuse of a rotated token revokes the family',
  token_hash CHAR(64) NOT NULL COMMENT 'sha256 of the opaque token',
  expires_at DATETIME(3) NOT NULL,
  revoked_at DATETIME(3) DEFAULT NULL,
  replaced_by VARCHAR(36) DEFAULT NULL,
  created_ip VARCHAR(45) DEFAULT NULL,
  created_at ${NOW},
  PRIMARY KEY (id),
  UNIQUE KEY uk_token_hash (token_hash),
  KEY idx_user (user_id),
  KEY idx_family (family_id),
  KEY idx_expires_at (expires_at),
  CONSTRAINT fk_refresh_tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ${TABLE_OPTS} COMMENT='operator refresh tokens (hashed)'`,

  `CREATE TABLE api_keys (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(100) NOT NULL,
  key_prefix VARCHAR(16) NOT NULL COMMENT 'first characters, shown in listings',
  key_hash CHAR(64) NOT NULL COMMENT 'sha256 of the secret; the secret is shown once',
  permissions JSON NOT NULL,
  created_by VARCHAR(36) DEFAULT NULL,
  last_used_at DATETIME(3) DEFAULT NULL,
  expires_at DATETIME(3) DEFAULT NULL,
  revoked_at DATETIME(3) DEFAULT NULL,
  created_at ${NOW},
  PRIMARY KEY (id),
  UNIQUE KEY uk_key_hash (key_hash),
  KEY idx_tenant (tenant_id, created_at),
  CONSTRAINT fk_api_keys_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
) ${TABLE_OPTS} COMMENT='machine client keys'`,

  `CREATE TABLE audit_logs (
  id BIGINT NOT NULL AUTO_INCREMENT,
  tenant_id VARCHAR(36) DEFAULT NULL,
  actor_type ENUM('user','api_key','platform','system') NOT NULL,
  actor_id VARCHAR(100) DEFAULT NULL,
  action VARCHAR(100) NOT NULL,
  target_type VARCHAR(50) DEFAULT NULL,
  target_id VARCHAR(100) DEFAULT NULL,
  ip VARCHAR(45) DEFAULT NULL,
  user_agent VARCHAR(500) DEFAULT NULL,
  request_id VARCHAR(64) DEFAULT NULL,
  details JSON DEFAULT NULL,
  created_at ${NOW},
  PRIMARY KEY (id, created_at),
  KEY idx_tenant_time (tenant_id, created_at),
  KEY idx_target (target_type, target_id)
) ${TABLE_OPTS} COMMENT='state-changing operator actions'
${partitionClause('created_at', [])}`,

  `CREATE TABLE wework_accounts (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  user_id VARCHAR(36) DEFAULT NULL,
  account_name VARCHAR(100) NOT NULL,
  phone VARCHAR(20) DEFAULT NULL,
  email VARCHAR(100) DEFAULT NULL,
  guid VARCHAR(100) DEFAULT NULL COMMENT 'gateway instance id',
  qr_code_url VARCHAR(500) DEFAULT NULL,
  login_token VARCHAR(255) DEFAULT NULL,
  status ENUM('created','logging_in','waiting_scan','waiting_confirm','need_verify','online','offline','error','recovering') NOT NULL DEFAULT 'created',
  config JSON DEFAULT NULL,
  user_info JSON DEFAULT NULL,
  last_login_time DATETIME(3) DEFAULT NULL,
  last_heartbeat_time DATETIME(3) DEFAULT NULL,
  login_retry_count INT NOT NULL DEFAULT 0,
  error_message TEXT DEFAULT NULL,
  created_at ${NOW},
  updated_at ${UPDATED},
  PRIMARY KEY (id),
  UNIQUE KEY uk_tenant_account_name (tenant_id, account_name),
  UNIQUE KEY uk_guid (guid),
  KEY idx_tenant_status_heartbeat (tenant_id, status, last_heartbeat_time),
  KEY idx_status_heartbeat (status, last_heartbeat_time),
  KEY idx_user_id (user_id),
  KEY idx_phone (phone),
  KEY idx_created_at (created_at),
  CONSTRAINT fk_accounts_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
) ${TABLE_OPTS} COMMENT='hosted WeCom accounts'`,

  `CREATE TABLE account_status_history (
  id BIGINT NOT NULL AUTO_INCREMENT,
  tenant_id VARCHAR(36) NOT NULL,
  account_id VARCHAR(36) NOT NULL,
  old_status VARCHAR(20) DEFAULT NULL,
  new_status VARCHAR(20) NOT NULL,
  reason VARCHAR(500) DEFAULT NULL,
  error_message TEXT DEFAULT NULL,
  extra_data JSON DEFAULT NULL,
  operator_id VARCHAR(36) DEFAULT NULL,
  operator_type ENUM('user','system','auto') NOT NULL DEFAULT 'system',
  created_at ${NOW},
  PRIMARY KEY (id, created_at),
  KEY idx_account_time (account_id, created_at),
  KEY idx_new_status (new_status),
  KEY idx_created_at (created_at)
) ${TABLE_OPTS} COMMENT='every account state transition'
${partitionClause('created_at', [])}`,

  `CREATE TABLE conversations (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  account_id VARCHAR(36) NOT NULL,
  conversation_id VARCHAR(100) NOT NULL COMMENT 'WeCom conversation id',
  conversation_name VARCHAR(200) DEFAULT NULL,
  conversation_type ENUM('private','group') NOT NULL,
  avatar_url VARCHAR(500) DEFAULT NULL,
  member_count INT DEFAULT 0,
  last_msg_time DATETIME(3) DEFAULT NULL,
  last_msg_content TEXT DEFAULT NULL,
  unread_count INT DEFAULT 0,
  is_active TINYINT(1) NOT NULL DEFAULT 1,
  is_pinned TINYINT(1) NOT NULL DEFAULT 0,
  tags JSON DEFAULT NULL,
  extra_info JSON DEFAULT NULL,
  created_at ${NOW},
  updated_at ${UPDATED},
  PRIMARY KEY (id),
  UNIQUE KEY uk_account_conversation (account_id, conversation_id),
  KEY idx_tenant_account_type (tenant_id, account_id, conversation_type),
  KEY idx_last_msg_time (last_msg_time),
  KEY idx_updated_at (updated_at)
) ${TABLE_OPTS} COMMENT='conversations of each account'`,

  `CREATE TABLE messages (
  id VARCHAR(36) NOT NULL COMMENT 'UUIDv7; also the idempotency key toward the gateway',
  tenant_id VARCHAR(36) NOT NULL,
  account_id VARCHAR(36) NOT NULL,
  conversation_id VARCHAR(100) NOT NULL,
  message_type ENUM('text','image','file','link','miniprogram','at') NOT NULL,
  content JSON NOT NULL,
  template_id VARCHAR(36) DEFAULT NULL,
  status ENUM('pending','sending','sent','delivered','failed','cancelled') NOT NULL DEFAULT 'pending',
  wework_msg_id VARCHAR(100) DEFAULT NULL,
  send_time DATETIME(3) DEFAULT NULL,
  callback_time DATETIME(3) DEFAULT NULL,
  error_code VARCHAR(50) DEFAULT NULL,
  error_message TEXT DEFAULT NULL,
  retry_count INT NOT NULL DEFAULT 0,
  batch_id VARCHAR(36) DEFAULT NULL,
  priority INT NOT NULL DEFAULT 5,
  scheduled_time DATETIME(3) DEFAULT NULL,
  created_at ${NOW},
  updated_at ${UPDATED},
  PRIMARY KEY (id, created_at),
  KEY idx_tenant_time_status (tenant_id, created_at, status),
  KEY idx_account_send_time (account_id, send_time),
  KEY idx_conversation_time (conversation_id, created_at),
  KEY idx_batch_status (batch_id, status),
  KEY idx_status_scheduled (status, scheduled_time),
  KEY idx_wework_msg_id (wework_msg_id),
  KEY idx_template_id (template_id)
) ${TABLE_OPTS} COMMENT='every message sent or to send'
${partitionClause('created_at', [])}`,

  `CREATE TABLE message_templates (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  creator_id VARCHAR(36) NOT NULL,
  template_name VARCHAR(100) NOT NULL,
  template_type VARCHAR(50) NOT NULL,
  category VARCHAR(50) DEFAULT NULL,
  description VARCHAR(500) DEFAULT NULL,
  template_content JSON NOT NULL,
  variables JSON DEFAULT NULL,
  preview_data JSON DEFAULT NULL,
  usage_count INT NOT NULL DEFAULT 0,
  last_used_time DATETIME(3) DEFAULT NULL,
  is_public TINYINT(1) NOT NULL DEFAULT 0,
  is_active TINYINT(1) NOT NULL DEFAULT 1,
  tags JSON DEFAULT NULL,
  created_at ${NOW},
  updated_at ${UPDATED},
  PRIMARY KEY (id),
  UNIQUE KEY uk_tenant_template_name (tenant_id, template_name),
  KEY idx_tenant_type (tenant_id, template_type),
  KEY idx_tenant_category (tenant_id, category),
  KEY idx_creator_id (creator_id),
  KEY idx_created_at (created_at),
  CONSTRAINT fk_templates_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
) ${TABLE_OPTS} COMMENT='message templates with variables'`,

  `CREATE TABLE batch_send_tasks (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  creator_id VARCHAR(36) NOT NULL,
  task_name VARCHAR(100) NOT NULL,
  account_id VARCHAR(36) NOT NULL,
  template_id VARCHAR(36) DEFAULT NULL,
  message_content JSON NOT NULL,
  target_type ENUM('manual','import','group','filter') NOT NULL,
  target_config JSON NOT NULL,
  send_strategy JSON DEFAULT NULL,
  status ENUM('created','running','paused','completed','failed','cancelled') NOT NULL DEFAULT 'created',
  total_count INT NOT NULL DEFAULT 0,
  sent_count INT NOT NULL DEFAULT 0,
  success_count INT NOT NULL DEFAULT 0,
  failed_count INT NOT NULL DEFAULT 0,
  progress_percent DECIMAL(5,2) NOT NULL DEFAULT 0.00,
  start_time DATETIME(3) DEFAULT NULL,
  end_time DATETIME(3) DEFAULT NULL,
  estimated_duration INT DEFAULT NULL,
  error_message TEXT DEFAULT NULL,
  created_at ${NOW},
  updated_at ${UPDATED},
  PRIMARY KEY (id),
  KEY idx_tenant_status (tenant_id, status, created_at),
  KEY idx_creator_id (creator_id),
  KEY idx_account_id (account_id),
  KEY idx_status (status),
  CONSTRAINT fk_tasks_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
) ${TABLE_OPTS} COMMENT='batch send campaigns'`,

  `CREATE TABLE callback_events (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) DEFAULT NULL,
  guid VARCHAR(100) NOT NULL,
  notify_type INT NOT NULL,
  event_type VARCHAR(50) NOT NULL,
  raw_data LONGTEXT NOT NULL,
  parsed_data JSON DEFAULT NULL,
  status ENUM('received','processing','processed','failed','ignored') NOT NULL DEFAULT 'received',
  error_message TEXT DEFAULT NULL,
  retry_count INT NOT NULL DEFAULT 0,
  process_time DATETIME(3) DEFAULT NULL,
  received_time ${NOW},
  source_ip VARCHAR(45) DEFAULT NULL,
  user_agent TEXT DEFAULT NULL,
  PRIMARY KEY (id, received_time),
  KEY idx_guid (guid),
  KEY idx_status_received (status, received_time),
  KEY idx_event_type (event_type),
  KEY idx_tenant_time (tenant_id, received_time)
) ${TABLE_OPTS} COMMENT='raw gateway and WeCom callbacks, stored before processing'
${partitionClause('received_time', [])}`,

  `CREATE TABLE message_statistics (
  id BIGINT NOT NULL AUTO_INCREMENT,
  tenant_id VARCHAR(36) NOT NULL,
  account_id VARCHAR(36) NOT NULL,
  stat_date DATE NOT NULL,
  stat_hour TINYINT NOT NULL COMMENT '0-23, UTC',
  total_count INT NOT NULL DEFAULT 0,
  success_count INT NOT NULL DEFAULT 0,
  failed_count INT NOT NULL DEFAULT 0,
  avg_response_time DECIMAL(10,3) DEFAULT NULL,
  created_at ${NOW},
  updated_at ${UPDATED},
  PRIMARY KEY (id),
  UNIQUE KEY uk_tenant_account_date_hour (tenant_id, account_id, stat_date, stat_hour),
  KEY idx_stat_date (stat_date),
  KEY idx_tenant_date (tenant_id, stat_date)
) ${TABLE_OPTS} COMMENT='hourly send roll-up'`,
];

const DROP_ORDER = [
  'message_statistics',
  'callback_events',
  'batch_send_tasks',
  'message_templates',
  'messages',
  'conversations',
  'account_status_history',
  'wework_accounts',
  'audit_logs',
  'api_keys',
  'refresh_tokens',
  'user_roles',
  'roles',
  'users',
  'tenants',
];

export async function up(knex: Knex): Promise<void> {
  for (const sql of statements) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const table of DROP_ORDER) await knex.schema.dropTableIfExists(table);
}

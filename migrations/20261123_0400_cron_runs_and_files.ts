import type { Knex } from 'knex';

/**
 * Cron job history (platform-wide, not tenant data) and stored files (tenant-owned, object in MinIO or
 * the local directory under `tenants/<tenant_id>/…`).
 */
const TABLE_OPTS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE cron_job_runs (
  id BIGINT NOT NULL AUTO_INCREMENT,
  job_name VARCHAR(100) NOT NULL,
  tick_at DATETIME(3) NOT NULL COMMENT 'scheduled time of the tick this run belongs to',
  started_at DATETIME(3) NOT NULL,
  finished_at DATETIME(3) DEFAULT NULL,
  duration_ms INT DEFAULT NULL,
  outcome ENUM('running','success','failed','skipped') NOT NULL,
  result JSON DEFAULT NULL,
  error TEXT DEFAULT NULL,
  host VARCHAR(200) DEFAULT NULL COMMENT 'hostname:pid of the cron process that ran it',
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_job_started (job_name, started_at),
  KEY idx_created (created_at, id)
) ${TABLE_OPTS} COMMENT='history of scheduled job runs'`);

  await knex.raw(`CREATE TABLE files (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  purpose ENUM('media','import','qr','report') NOT NULL,
  object_key VARCHAR(500) NOT NULL,
  file_name VARCHAR(255) NOT NULL,
  content_type VARCHAR(100) NOT NULL,
  size_bytes BIGINT NOT NULL DEFAULT 0,
  sha256 CHAR(64) DEFAULT NULL,
  created_by VARCHAR(36) DEFAULT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  deleted_at DATETIME(3) DEFAULT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_object_key (object_key),
  KEY idx_tenant_created (tenant_id, created_at, id),
  KEY idx_deleted (deleted_at),
  CONSTRAINT fk_files_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
) ${TABLE_OPTS} COMMENT='uploaded and generated files'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('files');
  await knex.schema.dropTableIfExists('cron_job_runs');
}

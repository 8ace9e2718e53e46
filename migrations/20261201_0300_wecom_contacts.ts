import type { Knex } from 'knex';

/**
 * Customers (external contacts) of an official-channel account, kept from WeCom's
 * `change_external_contact` callbacks (issue 13): one row per customer and staff member who has them,
 * active until either side deletes the other. `changed_at` is the callback's CreateTime, so a late,
 * older callback does not undo a newer one.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE TABLE wecom_contacts (
    id VARCHAR(36) NOT NULL,
    tenant_id VARCHAR(36) NOT NULL,
    account_id VARCHAR(36) NOT NULL,
    external_userid VARCHAR(100) NOT NULL COMMENT 'the customer (external_userid)',
    staff_userid VARCHAR(64) NOT NULL COMMENT 'the member who has the customer (UserID)',
    status ENUM('active','deleted') NOT NULL,
    last_change VARCHAR(40) NOT NULL COMMENT 'ChangeType of the last callback applied',
    changed_at DATETIME(3) NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uk_account_contact_staff (account_id, external_userid, staff_userid),
    KEY idx_tenant_account_status (tenant_id, account_id, status)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='customers of official-channel accounts, from change_external_contact'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE wecom_contacts');
}

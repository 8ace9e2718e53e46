-- Run once by the mariadb image on a new data directory (docker-compose.yml mounts this directory at
-- /docker-entrypoint-initdb.d). The app's user reads the read replica's lag with SHOW SLAVE STATUS
-- (src/db/read-replica.ts), which needs SLAVE MONITOR. Granted on the primary, it replicates with the
-- user itself to the `cluster` profile's replica.
GRANT SLAVE MONITOR ON *.* TO 'wework'@'%';

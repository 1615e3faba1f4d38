/**
 * @effect-auth/sql: groups, roles, permissions, Basic users and API keys on PostgreSQL, MySQL/MariaDB and
 * SQLite, over `@effect/sql`.
 *
 * @since 0.1.0
 */
export * as Migrations from "./Migrations.js"
export * as SqlAdmin from "./SqlAdmin.js"
export * as SqlApiKeyStore from "./SqlApiKeyStore.js"
export * as SqlCredentialsRepository from "./SqlCredentialsRepository.js"
export * as SqlDatabase from "./SqlDatabase.js"
export * as SqlGrantStore from "./SqlGrantStore.js"

/**
 * Test kit for effect-auth: signing keys, token minting, a local OIDC issuer with fault switches, and the
 * shared services and databases suites run against.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Keys from "./Keys.js"

/** @since 0.1.0 */
export * as Tokens from "./Tokens.js"

/** @since 0.1.0 */
export * as Issuer from "./Issuer.js"

/** @since 0.1.0 */
export * as TcpProxy from "./TcpProxy.js"

/** @since 0.1.0 */
export * as Services from "./Services.js"

/** @since 0.1.0 */
export * as GrantStoreCases from "./GrantStoreCases.js"

/** @since 0.1.0 */
export * as Databases from "./Databases.js"

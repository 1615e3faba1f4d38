/**
 * @effect-auth/core: principals, credentials, authenticators, guards and Basic auth for Effect.
 *
 * @since 0.1.0
 */
export * as ApiKey from "./ApiKey.js"
export * as ApiKeyFile from "./ApiKeyFile.js"
export * as AuditLog from "./AuditLog.js"
export * as AuthConfig from "./AuthConfig.js"
export * as AuthError from "./AuthError.js"
export * as Authenticated from "./Authenticated.js"
export * as Authenticator from "./Authenticator.js"
export * as AuthProvider from "./AuthProvider.js"
export * as BasicAuth from "./BasicAuth.js"
export * as Credential from "./Credential.js"
export * as CredentialsRepository from "./CredentialsRepository.js"
export * as GrantStore from "./GrantStore.js"
export * as GroupsProvider from "./GroupsProvider.js"
export * as Guard from "./Guard.js"
export * as Identity from "./Identity.js"
export * as PasswordHasher from "./PasswordHasher.js"
export * as Permission from "./Permission.js"
export * as PermissionsProvider from "./PermissionsProvider.js"
export * as Policy from "./Policy.js"
export * as Principal from "./Principal.js"
export * as RateLimit from "./RateLimit.js"
export * as RolesProvider from "./RolesProvider.js"

/**
 * @effect-auth/jwt: JWT and OIDC bearer tokens for effect-auth: JWKS cache, verifier, generic issuers, AWS
 * Cognito and Azure Entra ID.
 *
 * @since 0.1.0
 */
export * as Cognito from "./Cognito.js"
export * as CognitoIdentityPool from "./CognitoIdentityPool.js"
export * as EntraId from "./EntraId.js"
export * as JwksCache from "./JwksCache.js"
export * as JwtProvider from "./JwtProvider.js"
export * as JwtVerifier from "./JwtVerifier.js"
export * as KeySet from "./KeySet.js"
export * as Oidc from "./Oidc.js"

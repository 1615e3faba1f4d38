/**
 * The gateway's bearer-token providers: every configured JWT issuer (generic OIDC, Cognito, Entra ID, or
 * the demo issuer) behind one `JwtProvider`, which picks the issuer by the token's `iss` before any
 * signature or network work.
 */
import { Cognito, EntraId, JwksCache, JwtProvider } from "@effect-auth/jwt"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Demo from "./Demo.js"
import type { GatewayConfig } from "./GatewayConfig.js"

type IssuerEffect = Effect.Effect<JwtProvider.Issuer, ConfigError.ConfigError, HttpClient.HttpClient | Scope.Scope>

/**
 * The client for discovery and JWKS. undici's `request` never follows redirects, so a key endpoint
 * cannot send the gateway elsewhere for its keys.
 */
export const httpClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndici

const demoIssuer = (dev: Demo.DevIssuer): IssuerEffect =>
  Effect.flatMap(JwksCache.config, (refresh) =>
    JwtProvider.issuer({ issuer: dev.issuer.issuer, audience: Demo.audience, jwks: refresh })
  )

/** The issuers the configuration names, in a stable order; empty when none is configured. */
export const issuers = (config: GatewayConfig, dev: Demo.DevIssuer | undefined): ReadonlyArray<IssuerEffect> => [
  ...(config.jwtIssuer ? [JwtProvider.issuerFromConfig()] : []),
  ...(config.cognito ? [Cognito.issuerFromConfig()] : []),
  ...(config.entraId ? [EntraId.issuerFromConfig()] : []),
  ...(dev === undefined ? [] : [demoIssuer(dev)])
]

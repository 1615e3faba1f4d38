/**
 * The example app: a GraphQL Yoga server whose callers are authenticated by effect-auth with bearer
 * tokens of one OIDC issuer, every operation protected unless a field is public, and a rate limit per
 * caller.
 */
import { Authenticator, RateLimit } from "@effect-auth/core"
import { JwtProvider } from "@effect-auth/jwt"
import { useEffectAuth } from "@effect-auth/yoga"
import { useDeferStream } from "@graphql-yoga/plugin-defer-stream"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { createYoga } from "graphql-yoga"
import * as Schema from "./Schema.js"

export interface AppOptions {
  /** The issuer's exact `iss`; its keys are found by OIDC discovery. */
  readonly issuer: string
  /** The audience tokens must be made for (strongly recommended). */
  readonly audience?: string | undefined
  /** Requests per caller per minute (default 100). */
  readonly rateLimit?: number | undefined
}

export interface App {
  readonly yoga: ReturnType<typeof createYoga>
  /** Releases the runtime (JWKS cache, rate limit). */
  readonly dispose: () => Promise<void>
}

/** The authenticator and the rate limit: one runtime for the whole app, never one per request. */
export const layer = (options: AppOptions) =>
  Layer.merge(
    Authenticator.layer([
      JwtProvider.provider([JwtProvider.issuer({ issuer: options.issuer, audience: options.audience })])
    ]).pipe(Layer.provide(NodeHttpClient.layerUndici)),
    RateLimit.layerMemory({ limit: options.rateLimit, window: "1 minute" })
  )

export const make = (options: AppOptions): App => {
  const runtime = ManagedRuntime.make(layer(options))
  const yoga = createYoga({
    schema: Schema.make(runtime),
    plugins: [useDeferStream(), useEffectAuth({ runtime, mode: "protect-all", rateLimit: true })],
    // GraphiQL would need introspection, which protect-all refuses to anonymous callers.
    graphiql: false,
    logging: false
  })
  return { yoga, dispose: () => runtime.dispose() }
}

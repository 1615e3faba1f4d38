// The effect-auth runtime every effect-auth server of the HTTP benchmark runs on (node:http, tRPC, Yoga): the
// one issuer of the bench, keys from its JWKS endpoint, and the verifier's token cache when `cache` > 0.
import { Authenticator } from "@effect-auth/core"
import { JwtProvider } from "@effect-auth/jwt"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { settings } from "./common.mjs"

export const authRuntime = ({ cache = 0 } = {}) => {
  const { audience, issuer, jwksUrl } = settings()
  return ManagedRuntime.make(
    Authenticator.layer([
      JwtProvider.provider([
        JwtProvider.issuer({
          issuer,
          jwksUrl,
          audience,
          algorithms: ["RS256"],
          ...(cache > 0 ? { verifier: { cache: { maxEntries: cache } } } : {})
        })
      ])
    ]).pipe(Layer.provide(NodeHttpClient.layerUndici))
  )
}

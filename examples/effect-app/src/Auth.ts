/**
 * The authenticator of the app: bearer tokens from the dev issuer (JWT), Basic users and an API key, the
 * same provider setup as the other examples. Groups come from the tokens' `groups` claim and the users'
 * stored groups.
 */
import { ApiKey, Authenticator, BasicAuth, CredentialsRepository, PasswordHasher } from "@effect-auth/core"
import { JwtProvider } from "@effect-auth/jwt"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Demo from "./Demo.js"

/**
 * The `Authenticator` for the demo. Keys are fetched from the issuer lazily, on the first token: an
 * issuer that is down gives 503 answers, not a failed start.
 */
export const layer = (demo: Demo.Demo) =>
  Layer.unwrapEffect(
    Effect.map(Demo.credentials(demo), (users) =>
      Authenticator.layer([
        JwtProvider.provider([JwtProvider.issuer({ issuer: demo.issuer.issuer, audience: Demo.audience })]),
        BasicAuth.provider(),
        ApiKey.provider()
      ]).pipe(
        Layer.provide(CredentialsRepository.layerMemory(users)),
        Layer.provide(ApiKey.layerMemory([{ keyId: demo.apiKeyId, hash: ApiKey.hash(demo.apiKey) }])),
        // undici's `request` never follows redirects, so a key endpoint cannot send the app elsewhere.
        Layer.provide(NodeHttpClient.layerUndici)
      )
    )
  ).pipe(Layer.provide(PasswordHasher.layer()))

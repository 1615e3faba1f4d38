// Case 4: node:http + effect-auth, keys from the JWKS endpoint. `BENCH_TOKEN_CACHE=<maxEntries>` turns on
// the verifier's cache of verified tokens.
import { Authenticator } from "@effect-auth/core"
import { NodeHttpAuth } from "@effect-auth/http"
import { JwtProvider } from "@effect-auth/jwt"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { createServer } from "node:http"
import { body, listen, settings } from "./common.mjs"

const { audience, issuer, jwksUrl } = settings()
const cache = Number(process.env.BENCH_TOKEN_CACHE ?? 0)

const runtime = ManagedRuntime.make(
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

listen(
  createServer(
    NodeHttpAuth.handler(runtime, (_request, response, principal) => {
      response.writeHead(200, { "content-type": "application/json" }).end(body(principal.id))
    })
  ),
  () => runtime.dispose()
)

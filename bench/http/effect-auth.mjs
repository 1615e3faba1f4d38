// Case 4: node:http + effect-auth, keys from the JWKS endpoint. `BENCH_TOKEN_CACHE=<maxEntries>` turns on
// the verifier's cache of verified tokens.
import { NodeHttpAuth } from "@effect-auth/http"
import { createServer } from "node:http"
import { body, listen } from "./common.mjs"
import { authRuntime } from "./runtime.mjs"

const runtime = authRuntime({ cache: Number(process.env.BENCH_TOKEN_CACHE ?? 0) })

listen(
  createServer(
    NodeHttpAuth.handler(runtime, (_request, response, principal) => {
      response.writeHead(200, { "content-type": "application/json" }).end(body(principal.id))
    })
  ),
  () => runtime.dispose()
)

// Case 3: node:http + jose's `jwtVerify`, the key imported once.
import { importJWK, jwtVerify } from "jose"
import { createServer } from "node:http"
import { body, listen, settings, unauthorized } from "./common.mjs"

const { audience, issuer, jwk } = settings()
const key = await importJWK(jwk, "RS256")
const options = { issuer, audience, algorithms: ["RS256"] }

listen(
  createServer((request, response) => {
    const header = request.headers.authorization
    if (header === undefined || header.slice(0, 7).toLowerCase() !== "bearer ") return unauthorized(response)
    jwtVerify(header.slice(7), key, options).then(
      ({ payload }) => response.writeHead(200, { "content-type": "application/json" }).end(body(payload.sub)),
      () => unauthorized(response)
    )
  })
)

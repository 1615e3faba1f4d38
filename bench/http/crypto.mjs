// Case 2, the baseline: the least a correct RS256 verifier does, by hand with node:crypto and the key
// imported once. Not a library to copy: no `nbf`, no clock tolerance, one key.
import { Buffer } from "node:buffer"
import { verify } from "node:crypto"
import { createServer } from "node:http"
import { body, listen, settings, unauthorized } from "./common.mjs"

const { audience, issuer, jwk, publicKey } = settings()

const json = (segment) => JSON.parse(Buffer.from(segment, "base64url").toString("utf8"))

/** The verified payload, or `undefined` for any token that must be refused. */
const verifyToken = (token) => {
  const first = token.indexOf(".")
  const second = token.indexOf(".", first + 1)
  if (first <= 0 || second <= first + 1 || token.indexOf(".", second + 1) !== -1) return undefined
  try {
    const header = json(token.slice(0, first))
    // The algorithm is pinned before the signature is looked at: a token cannot choose it.
    if (header.alg !== "RS256" || header.kid !== jwk.kid) return undefined
    const signature = Buffer.from(token.slice(second + 1), "base64url")
    if (!verify("sha256", Buffer.from(token.slice(0, second)), publicKey, signature)) return undefined
    const payload = json(token.slice(first + 1, second))
    if (typeof payload !== "object" || payload === null) return undefined
    if (typeof payload.exp !== "number" || payload.exp <= Date.now() / 1000) return undefined
    if (payload.iss !== issuer) return undefined
    const aud = payload.aud
    if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) return undefined
    return typeof payload.sub === "string" ? payload : undefined
  } catch {
    return undefined
  }
}

listen(
  createServer((request, response) => {
    const header = request.headers.authorization
    const payload =
      header !== undefined && header.length > 7 && header.slice(0, 7).toLowerCase() === "bearer "
        ? verifyToken(header.slice(7))
        : undefined
    if (payload === undefined) return unauthorized(response)
    response.writeHead(200, { "content-type": "application/json" }).end(body(payload.sub))
  })
)

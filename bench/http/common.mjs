// What every server of the HTTP benchmark shares: the issuer settings it is given by the bench (environment
// variables, so that each server is a plain `node bench/http/<server>.mjs` process), and how it listens.
import { createPublicKey } from "node:crypto"

const required = (name) => {
  const value = process.env[name]
  if (value === undefined || value === "")
    throw new Error(`${name} is not set: start this server through bench/http.mjs`)
  return value
}

/** The trusted issuer: exact `iss`, accepted `aud`, its JWKS URL and its one public key (as a JWK). */
export const settings = () => {
  const jwk = JSON.parse(required("BENCH_PUBLIC_JWK"))
  return {
    issuer: required("BENCH_ISSUER"),
    audience: required("BENCH_AUDIENCE"),
    jwksUrl: required("BENCH_JWKS_URL"),
    jwk,
    publicKey: createPublicKey({ key: jwk, format: "jwk" })
  }
}

/** The one answer of every server to an accepted request: a tiny JSON body with the subject. */
export const body = (sub) => JSON.stringify({ sub })

/** The one answer of the node:http servers to a refused request. */
export const unauthorized = (response) => {
  response.writeHead(401, { "content-type": "application/json", "www-authenticate": "Bearer" })
  response.end('{"error":"unauthorized"}')
}

/**
 * Listens on a free port of 127.0.0.1 and prints `listening <port>`, which the bench waits for. Exits
 * cleanly on SIGTERM / SIGINT so that `node --cpu-prof` gets to write its profile.
 */
export const listen = (server, close = async () => {}) => {
  server.listen(0, "127.0.0.1", () => {
    console.log(`listening ${server.address().port}`)
  })
  const stop = () => {
    server.closeAllConnections?.()
    server.close()
    close().finally(() => process.exit(0))
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
}

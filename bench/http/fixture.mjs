// The issuer every HTTP benchmark trusts: one RS256 key made for the run, its JWKS served on 127.0.0.1, and
// tokens it signed. Servers read it from the environment `serverEnv` gives them (see common.mjs).
import { SignJWT, exportJWK } from "jose"
import { generateKeyPairSync } from "node:crypto"
import { createServer } from "node:http"

export const issuerFixture = async ({ distinctTokens }) => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
  const jwk = { ...(await exportJWK(publicKey)), kid: "bench-key-1", alg: "RS256", use: "sig" }
  const jwksBody = JSON.stringify({ keys: [jwk] })
  let jwksFetches = 0
  const jwksServer = createServer((request, response) => {
    if (request.url !== "/jwks.json") return response.writeHead(404).end()
    jwksFetches++
    response.writeHead(200, { "content-type": "application/json" }).end(jwksBody)
  })
  await new Promise((resolve) => jwksServer.listen(0, "127.0.0.1", resolve))
  const jwksOrigin = `http://127.0.0.1:${jwksServer.address().port}`
  const issuer = `${jwksOrigin}/`
  const audience = "bench-api"

  const sign = (claims, { exp = "1h", iss = issuer, aud = audience } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: jwk.kid, typ: "JWT" })
      .setIssuedAt()
      .setIssuer(iss)
      .setAudience(aud)
      .setExpirationTime(exp)
      .sign(privateKey)

  const repeated = await sign({ sub: "user-repeated" })
  const distinct = []
  for (let i = 0; i < distinctTokens; i += 100) {
    const batch = Array.from({ length: Math.min(100, distinctTokens - i) }, (_, j) => sign({ sub: `user-${i + j}` }))
    distinct.push(...(await Promise.all(batch)))
  }

  return {
    sign,
    repeated,
    distinct,
    /** The variables a server of bench/http/ reads its issuer from. */
    serverEnv: {
      BENCH_ISSUER: issuer,
      BENCH_AUDIENCE: audience,
      BENCH_JWKS_URL: `${jwksOrigin}/jwks.json`,
      BENCH_PUBLIC_JWK: JSON.stringify(jwk)
    },
    jwksFetches: () => jwksFetches,
    close: () => jwksServer.close()
  }
}

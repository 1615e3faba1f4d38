import { Oidc } from "@effect-auth/jwt"
import { Issuer } from "@effect-auth/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"

const client = NodeHttpClient.layerUndici

/** A server that answers every GET with `metadata(baseUrl)` and records the paths it was asked for. */
const metadataServer = (
  metadata: (baseUrl: string) => Record<string, unknown>
): Effect.Effect<{ readonly baseUrl: string; readonly paths: ReadonlyArray<string> }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: Http.Server; baseUrl: string; paths: Array<string> }>((resume) => {
      const paths: Array<string> = []
      let baseUrl = ""
      const server = Http.createServer((request, response) => {
        paths.push(request.url ?? "")
        response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(metadata(baseUrl)))
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        baseUrl = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
        resume(Effect.succeed({ server, baseUrl, paths }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

describe("Oidc", () => {
  it.scopedLive("discovers an issuer's metadata and its jwks_uri", () =>
    Effect.gen(function* () {
      const issuer = yield* Issuer.scoped({ algorithm: "ES256", issuerPath: "/tenant-1/v2.0" })
      const metadata = yield* Oidc.discover(issuer.issuer, { provider: "test-idp" })
      expect(metadata.issuer).toBe(issuer.issuer)
      expect(metadata.jwks_uri).toBe(issuer.jwksUrl)
      expect(metadata.token_endpoint).toBe(`${issuer.baseUrl}/token`)
      expect(yield* Oidc.jwksUri(issuer.issuer)).toBe(issuer.jwksUrl)
      expect(issuer.requests.discovery).toBe(2)
    }).pipe(Effect.provide(client))
  )

  it.scopedLive("drops one trailing slash of the issuer to build the URL, and compares the issuer exactly", () =>
    Effect.gen(function* () {
      const server = yield* metadataServer((baseUrl) => ({
        issuer: `${baseUrl}/tenant/`,
        jwks_uri: `${baseUrl}/keys`
      }))
      const metadata = yield* Oidc.discover(`${server.baseUrl}/tenant/`)
      expect(metadata.issuer).toBe(`${server.baseUrl}/tenant/`)
      expect(server.paths).toEqual(["/tenant/.well-known/openid-configuration"])

      // The same document for the issuer spelt without the slash: not the same issuer.
      const error = yield* Effect.flip(Oidc.discover(`${server.baseUrl}/tenant`, { provider: "test-idp" }))
      expect(error).toMatchObject({ _tag: "ProviderUnavailable", reason: "misconfigured", provider: "test-idp" })
    }).pipe(Effect.provide(client))
  )

  it.scopedLive("works with an Entra-style issuer that ends in a slash", () =>
    Effect.gen(function* () {
      const issuer = yield* Issuer.scoped({ algorithm: "ES256", issuer: (baseUrl) => `${baseUrl}/tid-123/` })
      expect(yield* Oidc.jwksUri(issuer.issuer)).toBe(issuer.jwksUrl)
    }).pipe(Effect.provide(client))
  )

  it.scopedLive("refuses a document naming another issuer as misconfigured", () =>
    Effect.gen(function* () {
      const issuer = yield* Issuer.scoped({
        algorithm: "ES256",
        metadata: () => ({ issuer: "https://login.evil.example" })
      })
      const error = yield* Effect.flip(Oidc.discover(issuer.issuer, { provider: "test-idp" }))
      expect(error).toMatchObject({ _tag: "ProviderUnavailable", reason: "misconfigured", provider: "test-idp" })
    }).pipe(Effect.provide(client))
  )

  it.scopedLive("accepts jwks_uri only over https, or http to a loopback host", () =>
    Effect.gen(function* () {
      const accepted = [
        "https://keys.example.com/jwks",
        "http://127.0.0.1:9/jwks",
        "http://localhost:9/jwks",
        "http://[::1]:9/jwks"
      ]
      const refused = [
        "http://keys.example.com/jwks",
        "http://127.0.0.2/jwks",
        "http://10.0.0.1/jwks",
        "https://user:secret@keys.example.com/jwks",
        "/relative/jwks",
        "file:///etc/jwks.json",
        "not a url"
      ]
      for (const jwksUri of [...accepted, ...refused]) {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256", metadata: () => ({ jwks_uri: jwksUri }) })
        const result = yield* Effect.either(Oidc.jwksUri(issuer.issuer))
        if (accepted.includes(jwksUri)) {
          expect(result, jwksUri).toMatchObject({ _tag: "Right", right: jwksUri })
        } else {
          expect(result, jwksUri).toMatchObject({ _tag: "Left", left: { reason: "misconfigured" } })
        }
      }
    }).pipe(Effect.provide(client))
  )

  it.effect("refuses an issuer that is not https (except loopback) or has a query, without a request", () =>
    Effect.gen(function* () {
      for (const issuer of [
        "http://login.example.com",
        "login.example.com",
        "https://login.example.com?tenant=1",
        "https://login.example.com#x",
        "https://user:pw@login.example.com"
      ]) {
        const error = yield* Effect.flip(Oidc.discover(issuer))
        expect(error, issuer).toMatchObject({ _tag: "ProviderUnavailable", reason: "misconfigured", provider: "jwt" })
      }
    }).pipe(Effect.provide(client))
  )

  it.scopedLive("requires issuer and jwks_uri strings in the document", () =>
    Effect.gen(function* () {
      for (const metadata of [{ jwks_uri: undefined }, { jwks_uri: 42 }, { issuer: null }]) {
        const issuer = yield* Issuer.scoped({ algorithm: "ES256", metadata: () => metadata })
        const error = yield* Effect.flip(Oidc.discover(issuer.issuer))
        expect(error, JSON.stringify(metadata)).toMatchObject({ _tag: "ProviderUnavailable", reason: "bad-response" })
      }
    }).pipe(Effect.provide(client))
  )

  it.scopedLive("fails ProviderUnavailable within the timeout when discovery is down, slow or broken", () =>
    Effect.gen(function* () {
      const issuer = yield* Issuer.scoped({ algorithm: "ES256" })
      for (const [fault, reason] of [
        [{ _tag: "Down" }, "unreachable"],
        [{ _tag: "Slow", millis: 5_000 }, "timeout"],
        [{ _tag: "Html" }, "bad-response"],
        [{ _tag: "Redirect", location: "https://login.evil.example/.well-known/openid-configuration" }, "bad-response"]
      ] as const) {
        issuer.setFault(fault, "discovery")
        const started = Date.now()
        const error = yield* Effect.flip(Oidc.discover(issuer.issuer, { timeout: "300 millis" }))
        expect(error, fault._tag).toMatchObject({ _tag: "ProviderUnavailable", reason })
        expect(Date.now() - started).toBeLessThan(1_500)
      }
    }).pipe(Effect.provide(client))
  )
})

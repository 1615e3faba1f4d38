/**
 * Interoperability with a real authorization server: the `oidc-provider` package (the certified
 * OpenID Connect implementation) runs on 127.0.0.1, issues a client-credentials access token as a JWT
 * (RFC 9068, `typ: at+jwt`) for a resource indicator, and the generic issuer verifies it through
 * discovery and the server's own JWKS. Nothing is stubbed.
 */
import { Authenticator, Principal } from "@effect-auth/core"
import { JwtProvider } from "@effect-auth/jwt"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { Buffer } from "node:buffer"
import * as Crypto from "node:crypto"
import * as Http from "node:http"

// oidc-provider ships no type declarations; this is the little of its API the test uses.
interface OidcProvider {
  readonly callback: () => Http.RequestListener
}
type OidcProviderClass = new (issuer: string, configuration: Record<string, unknown>) => OidcProvider

const loadOidcProvider = async (): Promise<OidcProviderClass> => {
  // A specifier held in a variable: TypeScript does not look for the declarations the package lacks.
  const specifier = "oidc-provider"
  // Importing it on Node 20 prints "Unsupported runtime" (it targets 22+); that one notice is dropped.
  const warn = console.warn
  console.warn = (...args: Array<unknown>) => {
    if (typeof args[0] === "string" && args[0].startsWith("oidc-provider WARNING: Unsupported runtime")) return
    warn(...args)
  }
  try {
    const module: { readonly default: OidcProviderClass } = await import(specifier)
    return module.default
  } finally {
    console.warn = warn
  }
}

/** An in-memory store, so oidc-provider does not warn about its development adapter. */
class MemoryAdapter {
  private readonly entries = new Map<string, unknown>()
  async upsert(id: string, payload: unknown) {
    this.entries.set(id, payload)
  }
  async find(id: string) {
    return this.entries.get(id)
  }
  async findByUserCode() {
    return undefined
  }
  async findByUid() {
    return undefined
  }
  async consume() {}
  async destroy(id: string) {
    this.entries.delete(id)
  }
  async revokeByGrantId() {}
}

const resource = "https://api.example"
const client = { id: "reporting-service", secret: "a-client-secret-for-tests-only" }

interface AuthorizationServer {
  readonly issuer: string
  /** A fresh client-credentials access token for `resource`, scope `api:read`. */
  readonly accessToken: () => Promise<string>
}

/** oidc-provider on 127.0.0.1 (a free port) with its own RS256 key; closed with the scope. */
const authorizationServer: Effect.Effect<AuthorizationServer, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const Provider = await loadOidcProvider()
    const { privateKey } = Crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
    const signingKey = { ...privateKey.export({ format: "jwk" }), kid: "interop-1", alg: "RS256", use: "sig" }
    const server = Http.createServer()
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const address = server.address()
    const issuer = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
    const provider = new Provider(issuer, {
      adapter: MemoryAdapter,
      jwks: { keys: [signingKey] },
      cookies: { keys: ["interop-test-cookie-key"] },
      scopes: ["api:read"],
      ttl: { ClientCredentials: 600 },
      clients: [
        {
          client_id: client.id,
          client_secret: client.secret,
          grant_types: ["client_credentials"],
          response_types: [],
          redirect_uris: [],
          scope: "api:read"
        }
      ],
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => resource,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: "api:read",
            audience: resource,
            accessTokenFormat: "jwt",
            jwt: { sign: { alg: "RS256" } }
          })
        }
      }
    })
    server.on("request", provider.callback())
    const accessToken = async () => {
      const response = await fetch(`${issuer}/token`, {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}`,
          "content-type": "application/x-www-form-urlencoded"
        },
        body: new URLSearchParams({ grant_type: "client_credentials", scope: "api:read", resource }).toString()
      })
      const body: unknown = await response.json()
      const token = typeof body === "object" && body !== null && "access_token" in body ? body.access_token : undefined
      if (response.status !== 200 || typeof token !== "string") {
        throw new Error(`the token endpoint answered ${response.status}: ${JSON.stringify(body)}`)
      }
      return token
    }
    return { issuer, accessToken, server }
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
      server.closeAllConnections()
    })
)

const authenticatorFor = (options: JwtProvider.IssuerOptions) =>
  Authenticator.layer([JwtProvider.provider([JwtProvider.issuer(options)])]).pipe(
    Layer.provide(NodeHttpClient.layerUndici)
  )

const authenticate = (token: string) =>
  Effect.flatMap(Authenticator.Authenticator, (authenticator) =>
    authenticator.authenticate({ authorization: `Bearer ${token}` })
  )

const segments = (token: string): [string, string, string] => {
  const [header = "", payload = "", signature = ""] = token.split(".")
  return [header, payload, signature]
}

describe("oidc-provider interoperability", () => {
  it.scopedLive("verifies its client-credentials access token (discovery, JWKS, at+jwt) as a machine", () =>
    Effect.gen(function* () {
      const server = yield* authorizationServer
      const token = yield* Effect.promise(() => server.accessToken())
      const [header] = segments(token)
      expect(JSON.parse(Buffer.from(header, "base64url").toString())).toMatchObject({ typ: "at+jwt", alg: "RS256" })

      for (const verifier of [{ typ: "at+jwt" }, { accessTokenProfile: true }]) {
        const described = yield* Effect.flatMap(authenticate(token), Principal.describe).pipe(
          Effect.provide(authenticatorFor({ issuer: server.issuer, audience: resource, verifier }))
        )
        expect(described).toMatchObject({ id: client.id, kind: "machine", provider: "jwt", name: null })
        expect(described.permissions).toContain("api:read")
      }
    })
  )

  it.scopedLive("refuses a tampered token, and a token for another audience", () =>
    Effect.gen(function* () {
      const server = yield* authorizationServer
      const token = yield* Effect.promise(() => server.accessToken())
      const [header, payload, signature] = segments(token)

      const claims: Record<string, unknown> = JSON.parse(Buffer.from(payload, "base64url").toString())
      const escalated = Buffer.from(JSON.stringify({ ...claims, scope: "api:read api:admin" })).toString("base64url")
      const flipped = `${signature.slice(0, -2)}${signature.endsWith("AA") ? "BA" : "AA"}`
      const layer = authenticatorFor({ issuer: server.issuer, audience: resource, verifier: { typ: "at+jwt" } })
      for (const tampered of [`${header}.${escalated}.${signature}`, `${header}.${payload}.${flipped}`]) {
        const error = yield* Effect.flip(authenticate(tampered)).pipe(Effect.provide(layer))
        expect(error).toMatchObject({ _tag: "InvalidToken", reason: "bad-signature" })
      }

      const otherAudience = authenticatorFor({
        issuer: server.issuer,
        audience: "https://other-api.example",
        verifier: { typ: "at+jwt" }
      })
      const error = yield* Effect.flip(authenticate(token)).pipe(Effect.provide(otherAudience))
      expect(error).toMatchObject({ _tag: "InvalidToken", reason: "wrong-audience" })

      // And the issuer must be exactly the one configured.
      const otherIssuer = authenticatorFor({ issuer: `${server.issuer}/`, audience: resource })
      const unknown = yield* Effect.flip(authenticate(token)).pipe(Effect.provide(otherIssuer))
      expect(unknown).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
    })
  )

  it.scoped("refuses the token once it has expired (its 10 minutes plus the 30 second tolerance)", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.now())
      const server = yield* authorizationServer
      const token = yield* Effect.promise(() => server.accessToken())
      const layer = authenticatorFor({ issuer: server.issuer, audience: resource, verifier: { typ: "at+jwt" } })
      yield* Effect.gen(function* () {
        expect(yield* authenticate(token)).toMatchObject({ id: client.id, kind: "machine" })
        yield* TestClock.adjust(Duration.minutes(10))
        expect(yield* authenticate(token)).toMatchObject({ id: client.id })
        yield* TestClock.adjust(Duration.seconds(45))
        expect(yield* Effect.flip(authenticate(token))).toMatchObject({ _tag: "InvalidToken", reason: "expired" })
      }).pipe(Effect.provide(layer))
    })
  )
})

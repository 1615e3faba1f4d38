/**
 * `JwtProvider`: several issuers behind one provider, chosen by the unverified `iss` before any signature
 * or network work; claim mapping and machine detection; configuration from the environment. Keys come
 * from the test kit's issuers over real HTTP on 127.0.0.1.
 */
import type { AuthProvider } from "@effect-auth/core"
import { AuthError, Authenticator, Credential, Identity, Principal } from "@effect-auth/core"
import { JwtProvider, type JwtVerifier } from "@effect-auth/jwt"
import { Issuer, Keys, Tokens } from "@effect-auth/testing"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import type { DurationInput } from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import { Buffer } from "node:buffer"

const bearer = (token: string) => Credential.Bearer({ token: Redacted.make(token) })

/** The test runs with a real HTTP client (undici) that lives as long as the test. */
const withHttp = <A, E>(self: Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>) =>
  Effect.provide(self, NodeHttpClient.layerUndici)

const mint = (issuer: Issuer.Issuer, claims?: Record<string, unknown>, options?: Issuer.IssuerMintOptions) =>
  Effect.promise(() => issuer.mint(claims, { audience: "api", ...options }))

const authenticate = (provider: AuthProvider.AuthProvider, token: string) => provider.authenticate(bearer(token))

/** The lane's answer for a token: its error when it refused, else what it returned (a principal, or undefined). */
const laneRefusal = (provider: AuthProvider.AuthProvider, token: string, nowMillis: number) => {
  const decided = provider.authenticateNow?.(bearer(token), nowMillis)
  return decided !== undefined && Either.isLeft(decided) ? decided.left : decided
}

const requestsTo = (issuer: Issuer.Issuer) => issuer.requests.jwks + issuer.requests.discovery

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

describe("JwtProvider", () => {
  it.scopedLive("serves several issuers at once, each with its own keys, name and settings", () =>
    withHttp(
      Effect.gen(function* () {
        const rsa = yield* Issuer.scoped()
        const ec = yield* Issuer.scoped({ algorithm: "ES256", issuerPath: "/tenant-2" })
        const provider = yield* JwtProvider.provider([
          JwtProvider.issuer({ issuer: rsa.issuer, audience: "api", name: "first" }),
          JwtProvider.issuer({
            issuer: ec.issuer,
            jwksUrl: ec.jwksUrl,
            audience: "api",
            algorithms: ["ES256"],
            name: "second"
          })
        ])
        expect(provider.name).toBe("jwt")
        expect(provider.challenge.scheme).toBe("Bearer")

        const first = yield* authenticate(provider, yield* mint(rsa, {}, { subject: "ada" }))
        expect(first).toMatchObject({ id: "ada", provider: "first", kind: "user" })
        const second = yield* authenticate(provider, yield* mint(ec, {}, { subject: "ben" }))
        expect(second).toMatchObject({ id: "ben", provider: "second", kind: "user" })

        // Discovery for the first (no JWKS URL given), the JWKS URL directly for the second.
        expect(rsa.requests).toEqual({ discovery: 1, jwks: 1 })
        expect(ec.requests).toEqual({ discovery: 0, jwks: 1 })

        // Each issuer keeps its own audience.
        const wrongAudience = yield* Effect.flip(authenticate(provider, yield* mint(ec, {}, { audience: "other" })))
        expect(wrongAudience).toMatchObject({ _tag: "InvalidToken", reason: "wrong-audience" })
      })
    )
  )

  it.scopedLive("refuses a token from an issuer it does not know without any network I/O", () =>
    withHttp(
      Effect.gen(function* () {
        const known = yield* Issuer.scoped()
        const stranger = yield* Issuer.scoped()
        const provider = yield* JwtProvider.provider([JwtProvider.issuer({ issuer: known.issuer, audience: "api" })])

        const error = yield* Effect.flip(authenticate(provider, yield* mint(stranger)))
        expect(error).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
        expect(requestsTo(known)).toBe(0)
        expect(requestsTo(stranger)).toBe(0)

        // A look-alike issuer string (a prefix, a trailing slash) is another issuer.
        for (const iss of [`${known.issuer}/`, `${known.issuer}/x`, known.issuer.toUpperCase()]) {
          const lookalike = yield* Effect.flip(authenticate(provider, yield* mint(known, { iss })))
          expect(lookalike).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
        }
        expect(requestsTo(known)).toBe(0)
      })
    )
  )

  it.scopedLive("lets iss choose the issuer before the signature: another issuer's key never verifies", () =>
    withHttp(
      Effect.gen(function* () {
        const a = yield* Issuer.scoped()
        const b = yield* Issuer.scoped()
        const provider = yield* JwtProvider.provider([
          JwtProvider.issuer({ issuer: a.issuer, audience: "api", name: "a" }),
          JwtProvider.issuer({ issuer: b.issuer, audience: "api", name: "b" })
        ])
        // Claims to be from a, signed with b's published key: only a's keys are consulted.
        const forged = yield* mint(a, {}, { key: b.currentKey })
        const error = yield* Effect.flip(authenticate(provider, forged))
        expect(error._tag).toBe("InvalidToken")
        expect(["unknown-key", "bad-signature"]).toContain(error._tag === "InvalidToken" ? error.reason : "")
        expect(requestsTo(a)).toBeGreaterThan(0)
        expect(requestsTo(b)).toBe(0)

        // The same key under a's kid: a's key is tried, and the signature does not match.
        const sameKid = yield* mint(a, {}, { key: b.currentKey, header: { kid: a.currentKey.kid } })
        expect(yield* Effect.flip(authenticate(provider, sameKid))).toMatchObject({
          _tag: "InvalidToken",
          reason: "bad-signature"
        })
        expect(requestsTo(b)).toBe(0)
      })
    )
  )

  it.scopedLive("answers a cached token as the issuer that verified it did, and only while its entry holds", () =>
    withHttp(
      Effect.gen(function* () {
        const a = yield* Issuer.scoped()
        const b = yield* Issuer.scoped({ issuerPath: "/tenant-2" })
        const verifier = { cache: { maxEntries: 10 } }
        const provider = yield* JwtProvider.provider([
          JwtProvider.issuer({ issuer: a.issuer, audience: "api", name: "a", verifier }),
          JwtProvider.issuer({ issuer: b.issuer, audience: "api", name: "b", verifier })
        ])
        const token = yield* mint(b, {}, { subject: "ben", expiresIn: 60 })
        const now = Date.now()
        const lane = (at: number) => {
          const decided = provider.authenticateNow?.(bearer(token), at)
          return decided === undefined ? "effect path" : Either.isRight(decided) ? decided.right : decided.left
        }
        expect(yield* authenticate(provider, token)).toMatchObject({ id: "ben", provider: "b" })
        // From b's cache, before the token is read: the same identity, named by the issuer that verified it.
        expect(lane(now)).toMatchObject({ id: "ben", provider: "b" })
        expect(lane(now)).toMatchObject({ id: "ben", provider: "b" })
        // Past its exp the entry is no answer; the token is read and refused as it would be uncached.
        expect(lane(now + 120_000)).toMatchObject({ _tag: "InvalidToken", reason: "expired" })
        // Once b stops publishing the key (and the provider has refetched b's keys), the cached entry stops
        // vouching for the token.
        const retired = b.currentKey
        yield* Effect.promise(() => b.rotate())
        b.removeKey(retired.kid)
        expect(yield* authenticate(provider, yield* mint(b, {}, { subject: "new-key" }))).toMatchObject({
          id: "new-key"
        })
        // The lane does not answer for a kid it does not hold; the Effect path refuses it.
        expect(lane(now)).toBe("effect path")
        expect(yield* Effect.flip(authenticate(provider, token))).toMatchObject({
          _tag: "InvalidToken",
          reason: "unknown-key"
        })
        expect(requestsTo(a)).toBe(0)
      })
    )
  )

  it.scopedLive("never answers from a cache past a check a wrapper adds to an issuer", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* Issuer.scoped()
        const inner = yield* JwtProvider.issuer({
          issuer: kit.issuer,
          audience: "api",
          verifier: { cache: { maxEntries: 10 } }
        })
        const banned = new AuthError.InvalidToken({ reason: "invalid-claim", detail: "banned" })
        const check = (verified: JwtVerifier.Verified) =>
          verified.claims.sub === "mallory" ? Either.left(banned) : Either.right(verified)
        // A wrapper as the Issuer documentation describes it: the check added to verify and verifyNow.
        const wrapped: JwtProvider.Issuer = {
          ...inner,
          verify: (token) => Effect.flatMap(inner.verify(token), check),
          verifyNow: (token, nowMillis) => {
            const verified = inner.verifyNow?.(token, nowMillis)
            return verified === undefined ? undefined : Either.flatMap(verified, check)
          }
        }
        const provider = JwtProvider.make([wrapped])
        const token = yield* mint(kit, {}, { subject: "mallory" })
        // The inner verifier caches the token before the wrapper refuses it; neither lane may answer from it.
        expect(yield* Effect.flip(authenticate(provider, token))).toMatchObject({ reason: "invalid-claim" })
        expect(laneRefusal(provider, token, Date.now())).toMatchObject({ reason: "invalid-claim" })
      })
    )
  )

  it.scopedLive("answers a cached token only for the issuer its iss picks in this provider", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* Issuer.scoped()
        const verifier = { cache: { maxEntries: 10 } }
        // Two issuers for the same iss with different audiences; one provider lists only `api`.
        const api = yield* JwtProvider.issuer({ issuer: kit.issuer, audience: "api", name: "api", verifier })
        const admin = yield* JwtProvider.issuer({ issuer: kit.issuer, audience: "admin", name: "admin", verifier })
        const apiOnly = JwtProvider.make([api])
        const adminFirst = JwtProvider.make([admin, api])
        const token = yield* mint(kit, {}, { audience: "api" })
        // `admin` comes first in adminFirst, so its audience decides there, whatever api's cache holds.
        expect(yield* authenticate(apiOnly, token)).toMatchObject({ provider: "api" })
        expect(yield* Effect.flip(authenticate(adminFirst, token))).toMatchObject({ reason: "wrong-audience" })
        expect(laneRefusal(adminFirst, token, Date.now())).toMatchObject({ reason: "wrong-audience" })
      })
    )
  )

  it.scopedLive("maps custom claim names, and splits scope and scp strings", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* Issuer.scoped()
        const provider = yield* JwtProvider.provider([
          JwtProvider.issuer({
            issuer: kit.issuer,
            audience: "api",
            claims: {
              id: "uid",
              name: "display_name",
              email: "mail",
              groups: ["cognito:groups", "groups"],
              roles: ["app_roles"],
              permissions: ["perms", "scope"]
            }
          })
        ])
        const identity = yield* authenticate(
          provider,
          yield* mint(kit, {
            uid: "u-42",
            display_name: "Ada Lovelace",
            mail: "ada@example.com",
            name: "not this one",
            "cognito:groups": ["admin", "staff"],
            groups: ["ignored"],
            app_roles: "billing,auditor",
            perms: "orders:read orders:write"
          })
        )
        expect(identity).toMatchObject({
          id: "u-42",
          name: "Ada Lovelace",
          email: "ada@example.com",
          grants: {
            groups: ["admin", "staff"],
            roles: ["billing", "auditor"],
            permissions: ["orders:read", "orders:write"]
          }
        })

        // A mapped id claim that is missing, or not a string, refuses the token.
        const noId = yield* Effect.flip(authenticate(provider, yield* mint(kit, {})))
        expect(noId).toMatchObject({ _tag: "InvalidToken", reason: "missing-claim" })
        const numericId = yield* Effect.flip(authenticate(provider, yield* mint(kit, { uid: 42 })))
        expect(numericId).toMatchObject({ _tag: "InvalidToken", reason: "invalid-claim" })
      })
    )
  )

  it("default mapping: sub, name, email, groups, roles, and permissions from permissions, scope or scp", () => {
    const identity = (claims: Record<string, unknown>) =>
      Either.getOrThrow(JwtProvider.identityFromClaims("jwt", { sub: "s", ...claims }))
    expect(identity({ scope: "read write,admin" }).grants?.permissions).toEqual(["read", "write", "admin"])
    expect(identity({ scp: "orders.read  orders.write" }).grants?.permissions).toEqual(["orders.read", "orders.write"])
    expect(identity({ scp: ["a", 1, "b"] }).grants?.permissions).toEqual(["a", "b"])
    // The first present claim wins; they are not merged.
    expect(identity({ permissions: ["p"], scope: "s" }).grants?.permissions).toEqual(["p"])
    const full = identity({ name: "N", email: "e@x", groups: ["g"], roles: "r1 r2" })
    expect(full).toMatchObject({
      id: "s",
      kind: "user",
      provider: "jwt",
      name: "N",
      email: "e@x",
      grants: { groups: ["g"], roles: ["r1", "r2"], permissions: [] }
    })
    // Empty strings are no name or email.
    expect(identity({ name: "", email: "" })).toMatchObject({ name: undefined, email: undefined })
    const noSub = JwtProvider.identityFromClaims("jwt", {})
    expect(Either.isLeft(noSub) && noSub.left.reason).toBe("missing-claim")
  })

  it.scopedLive("tells machines (client credentials) from users, or as configured", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* Issuer.scoped()
        const other = yield* Issuer.scoped()
        const provider = yield* JwtProvider.provider([
          JwtProvider.issuer({ issuer: kit.issuer, audience: "api" }),
          JwtProvider.issuer({
            issuer: other.issuer,
            audience: "api",
            kind: (claims) => (claims.token_use === "service" ? "machine" : "user")
          })
        ])
        const kindOf = (issuer: Issuer.Issuer, subject: string, claims: Record<string, unknown>) =>
          Effect.flatMap(mint(issuer, claims, { subject }), (token) =>
            Effect.map(authenticate(provider, token), (identity) => identity.kind)
          )
        expect(yield* kindOf(kit, "svc", { client_id: "svc" })).toBe("machine")
        expect(yield* kindOf(kit, "svc", { azp: "svc" })).toBe("machine")
        expect(yield* kindOf(kit, "ada", { client_id: "web-app" })).toBe("user")
        expect(yield* kindOf(kit, "ada", {})).toBe("user")
        expect(yield* kindOf(other, "svc", { client_id: "svc" })).toBe("user")
        expect(yield* kindOf(other, "job", { token_use: "service" })).toBe("machine")

        expect(JwtProvider.isClientCredentials({ sub: "c", client_id: "c" })).toBe(true)
        expect(JwtProvider.isClientCredentials({ sub: "c", client_id: "" })).toBe(false)
        expect(JwtProvider.isClientCredentials({ client_id: "c" })).toBe(false)
      })
    )
  )

  it.scopedLive("takes only JWT-shaped bearer tokens, so an API-key provider behind it still gets the others", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* Issuer.scoped()
        const jwt = yield* JwtProvider.provider([JwtProvider.issuer({ issuer: kit.issuer, audience: "api" })])
        const token = yield* mint(kit, {}, { subject: "ada" })
        expect(jwt.accepts(bearer(token))).toBe(true)
        for (const other of ["sk_live_0123456789abcdef", "abc.def.ghi", "eyJ.only-two", `${token}.extra`]) {
          expect({ other, accepted: jwt.accepts(bearer(other)) }).toEqual({ other, accepted: false })
        }
        expect(jwt.accepts(Credential.Basic({ username: "u", password: Redacted.make("p") }))).toBe(false)

        const apiKeys: AuthProvider.AuthProvider = {
          name: "api-key",
          challenge: { scheme: "Bearer" },
          accepts: (credential) => credential._tag === "Bearer",
          authenticate: (credential) =>
            credential._tag === "Bearer" && Redacted.value(credential.token) === "sk_live_0123456789abcdef"
              ? Effect.succeed(Identity.make({ id: "key-1", kind: "machine", provider: "api-key" }))
              : Effect.fail(new AuthError.InvalidCredentials({ reason: "rejected", scheme: "Bearer" }))
        }
        const authenticator = yield* Authenticator.make({ providers: [jwt, apiKeys] })
        const byKey = yield* authenticator.authenticate({ authorization: "Bearer sk_live_0123456789abcdef" })
        expect(byKey).toMatchObject({ id: "key-1", provider: "api-key" })
        const byToken = yield* authenticator.authenticate({ authorization: `Bearer ${token}` })
        expect(byToken).toMatchObject({ id: "ada", provider: "jwt" })
      })
    )
  )

  it.scopedLive("refuses a token without iss as missing-claim, and an unreadable one as malformed", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* Issuer.scoped()
        const provider = yield* JwtProvider.provider([JwtProvider.issuer({ issuer: kit.issuer, audience: "api" })])

        const noIss = yield* Effect.promise(() =>
          Tokens.mint({ key: kit.currentKey, audience: "api", subject: "ada", claims: { iss: undefined } })
        )
        expect(yield* Effect.flip(authenticate(provider, noIss))).toMatchObject({
          _tag: "InvalidToken",
          reason: "missing-claim"
        })
        const numericIss = yield* mint(kit, { iss: 42 })
        expect(yield* Effect.flip(authenticate(provider, numericIss))).toMatchObject({ _tag: "InvalidToken" })

        const header = base64url({ alg: "RS256", typ: "JWT" })
        for (const malformed of [
          `${header}.${Buffer.from("not json").toString("base64url")}.c2lnbmF0dXJl`,
          `${header}.${base64url([1, 2, 3])}.c2lnbmF0dXJl`,
          `eyJub3QganNvbg.${base64url({ iss: kit.issuer })}.c2lnbmF0dXJl`
        ]) {
          expect(yield* Effect.flip(authenticate(provider, malformed))).toMatchObject({
            _tag: "InvalidToken",
            reason: "malformed"
          })
        }
        // None of these reached the issuer.
        expect(requestsTo(kit)).toBe(0)

        const oversized = yield* mint(kit, { padding: "x".repeat(10_000) })
        expect(yield* Effect.flip(authenticate(provider, oversized))).toMatchObject({
          _tag: "InvalidToken",
          reason: "too-large"
        })
        expect(requestsTo(kit)).toBe(0)
      })
    )
  )

  it.scopedLive("the principal's groups, roles and permissions are the mapped claims", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* Issuer.scoped()
        const token = yield* mint(
          kit,
          { groups: ["admin"], roles: ["billing"], scope: "orders:read" },
          { subject: "ada" }
        )
        const described = yield* Effect.gen(function* () {
          const authenticator = yield* Authenticator.Authenticator
          const principal = yield* authenticator.authenticate({ authorization: `Bearer ${token}` })
          return yield* Principal.describe(principal)
        }).pipe(
          Effect.provide(
            Authenticator.layer([
              JwtProvider.provider([JwtProvider.issuer({ issuer: kit.issuer, audience: "api" })])
            ]).pipe(Layer.provide(NodeHttpClient.layerUndici))
          )
        )
        expect(described).toStrictEqual({
          id: "ada",
          kind: "user",
          provider: "jwt",
          name: null,
          email: null,
          groups: ["admin"],
          roles: ["billing"],
          permissions: ["orders:read"]
        })
      })
    )
  )
})

describe("JwtProvider on hostile tokens", () => {
  // JSON.parse takes any depth; anything recursive over the parsed value (JSON.stringify) overflows the
  // stack past a few thousand levels. Such a token must be refused like any malformed one, by both lanes.
  const deep = (levels: number) =>
    `${base64url({ alg: "RS256", kid: "k" })}.${Buffer.from(
      `{"iss":"https://deep.example.com","a":${"[".repeat(levels)}${"]".repeat(levels)}}`
    ).toString("base64url")}.${"A".repeat(342)}`

  it.effect("a token nested 5500 levels deep is refused, never thrown, on both lanes", () =>
    Effect.gen(function* () {
      const token = deep(5500)
      expect(token.length).toBeLessThan(16384)
      const provider = JwtProvider.make([], { maxTokenBytes: 16384 })
      const refused = yield* Effect.flip(authenticate(provider, token))
      expect(refused).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
      expect(laneRefusal(provider, token, 0)).toMatchObject({ reason: "unknown-issuer" })
      const authenticator = yield* Authenticator.make({ providers: [provider] })
      const decided = authenticator.authenticateNow?.({ authorization: `Bearer ${token}` }, 0)
      expect(decided !== undefined && Either.isLeft(decided) ? decided.left : decided).toMatchObject({
        reason: "unknown-issuer"
      })
    })
  )
})

describe("JwtProvider configuration", () => {
  const withEnv = (entries: Record<string, string>) =>
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(entries))))

  it.effect("issuerConfig reads AUTH_JWT_* (comma-separated lists, spaces trimmed)", () =>
    Effect.gen(function* () {
      const options = yield* JwtProvider.issuerConfig.pipe(
        withEnv({
          AUTH_JWT_ISSUER: "https://issuer.example.com",
          AUTH_JWT_JWKS_URL: "https://issuer.example.com/keys",
          AUTH_JWT_AUDIENCE: "api, https://api.example.com",
          AUTH_JWT_ALGORITHMS: "RS256, ES256"
        })
      )
      expect(options).toEqual({
        issuer: "https://issuer.example.com",
        jwksUrl: "https://issuer.example.com/keys",
        audience: ["api", "https://api.example.com"],
        algorithms: ["RS256", "ES256"]
      })
      const minimal = yield* JwtProvider.issuerConfig.pipe(withEnv({ AUTH_JWT_ISSUER: "https://issuer.example.com" }))
      expect(minimal).toEqual({
        issuer: "https://issuer.example.com",
        jwksUrl: undefined,
        audience: undefined,
        algorithms: undefined
      })
    })
  )

  it.effect.each(["HS256", "none", "RS256,HS256", "rs256"])(
    "AUTH_JWT_ALGORITHMS=%s is a ConfigError naming the variable",
    (algorithms) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          JwtProvider.issuerConfig.pipe(
            withEnv({ AUTH_JWT_ISSUER: "https://issuer.example.com", AUTH_JWT_ALGORITHMS: algorithms })
          )
        )
        expect(ConfigError.isConfigError(error)).toBe(true)
        expect(String(error)).toContain("AUTH_JWT_ALGORITHMS")
      })
  )

  it.effect("without AUTH_JWT_ISSUER, issuerConfig is a ConfigError naming it", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        JwtProvider.issuerConfig.pipe(withEnv({ AUTH_JWT_JWKS_URL: "https://x.example/keys" }))
      )
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(String(error)).toContain("AUTH_JWT_ISSUER")
    })
  )

  it.scoped("issuerFromConfig builds a working issuer from the environment, JWKS settings included", () =>
    withHttp(
      Effect.gen(function* () {
        // The issuer stamps tokens with the real time; the TestClock starts there so the cooldown can pass.
        yield* TestClock.setTime(Date.now())
        const kit = yield* Issuer.scoped({ algorithm: "ES384" })
        const provider = yield* JwtProvider.provider([JwtProvider.issuerFromConfig()]).pipe(
          withEnv({
            AUTH_JWT_ISSUER: kit.issuer,
            AUTH_JWT_JWKS_URL: kit.jwksUrl,
            AUTH_JWT_AUDIENCE: "api",
            AUTH_JWT_ALGORITHMS: "ES384",
            JWKS_CACHE_INTERVAL: "5",
            JWKS_CACHE_USAGES: "2"
          })
        )
        for (let i = 0; i < 3; i++) {
          expect(yield* authenticate(provider, yield* mint(kit))).toMatchObject({ id: "user-1", provider: "jwt" })
        }
        // Due after two verifications (JWKS_CACHE_USAGES=2), but a refresh triggered by uses waits for the
        // 30 s cooldown since the last fetch; it then runs in the background. Never discovered.
        expect(kit.requests.jwks).toBe(1)
        yield* TestClock.adjust("30 seconds")
        yield* authenticate(provider, yield* mint(kit))
        while (kit.requests.jwks < 2) yield* TestServices.provideLive(Effect.sleep("5 millis"))
        expect(kit.requests.jwks).toBe(2)
        expect(kit.requests.discovery).toBe(0)

        const rs256 = yield* mint(kit, {}, { key: yield* Effect.promise(() => Keys.generate("RS256")) })
        expect(yield* Effect.flip(authenticate(provider, rs256))).toMatchObject({
          _tag: "InvalidToken",
          reason: "unsupported-algorithm"
        })

        const badInterval = yield* Effect.flip(
          JwtProvider.issuerFromConfig().pipe(withEnv({ AUTH_JWT_ISSUER: kit.issuer, JWKS_CACHE_INTERVAL: "soon" }))
        )
        expect(String(badInterval)).toContain("JWKS_CACHE_INTERVAL")
      })
    )
  )

  it.scoped("issuerFromConfig: a JWKS setting passed in code holds unless its variable is set, which wins", () =>
    withHttp(
      Effect.gen(function* () {
        yield* TestClock.setTime(Date.now())
        const kit = yield* Issuer.scoped({ algorithm: "ES256" })
        const env = {
          AUTH_JWT_ISSUER: kit.issuer,
          AUTH_JWT_JWKS_URL: kit.jwksUrl,
          AUTH_JWT_AUDIENCE: "api",
          AUTH_JWT_ALGORITHMS: "ES256"
        }
        const madeUpKid = (i: number) =>
          Effect.promise(() => Keys.generate("ES256", { kid: `made-up-${i}` })).pipe(
            Effect.flatMap((key) => mint(kit, {}, { key }))
          )
        /** JWKS requests made by two tokens with made-up kids `wait` apart (the first one refetches). */
        const fetchesFor = (provider: AuthProvider.AuthProvider, wait: DurationInput) =>
          Effect.gen(function* () {
            yield* authenticate(provider, yield* mint(kit))
            const before = kit.requests.jwks
            yield* Effect.flip(authenticate(provider, yield* madeUpKid(1)))
            yield* TestClock.adjust(wait)
            yield* Effect.flip(authenticate(provider, yield* madeUpKid(2)))
            return kit.requests.jwks - before
          })
        const fromCode = JwtProvider.issuerFromConfig({ jwks: { unknownKidCooldown: "5 seconds" } })

        // Without the variable, the 5 s passed in code applies (the default 30 s would allow one fetch).
        const codeOnly = yield* JwtProvider.provider([fromCode]).pipe(withEnv(env))
        expect(yield* fetchesFor(codeOnly, "5 seconds")).toBe(2)
        // With it, the variable wins: 60 s, so a second unknown kid 5 s later is refused without a fetch.
        const variable = yield* JwtProvider.provider([fromCode]).pipe(
          withEnv({ ...env, JWKS_UNKNOWN_KID_COOLDOWN: "60" })
        )
        expect(yield* fetchesFor(variable, "5 seconds")).toBe(1)
      })
    )
  )
})

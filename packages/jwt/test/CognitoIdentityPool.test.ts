/**
 * `CognitoIdentityPool`: user pool id tokens exchanged for AWS credentials with the real AWS SDK, pointed
 * at a local Cognito Identity endpoint (test/fixtures) that checks the `Logins` map and verifies the token
 * against the test kit's user pool keys, over real HTTP on 127.0.0.1.
 */
import { AuthError } from "@effect-auth/core"
import { CognitoIdentityPool } from "@effect-auth/jwt"
import { Issuer, Keys } from "@effect-auth/testing"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as IdentityServer from "./fixtures/CognitoIdentityServer.js"

const POOL = "us-east-1_AbC123xyz"
const CLIENT = "4r5t6y7u8i9o0pclient"
const OTHER_CLIENT = "1q2w3e4r5t6y7uother"
const ADMIN_ROLE = "arn:aws:iam::123456789012:role/pool-admins"
const IDENTITY_POOL = "us-east-1:0a1b2c3d-1111-2222-3333-444455556666"
const PROVIDER_NAME = `cognito-idp.us-east-1.amazonaws.com/${POOL}`

const withHttp = <A, E>(self: Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>) =>
  Effect.provide(self, NodeHttpClient.layerUndici)

type Overrides = Omit<Partial<CognitoIdentityPool.Options>, "userPool"> & {
  readonly serverProviderName?: string
  readonly verifier?: CognitoIdentityPool.Options["userPool"]["verifier"]
}

/** A user pool (the test kit's issuer), an identity pool endpoint trusting it, and the service under test. */
const setup = (overrides: Overrides = {}) =>
  Effect.gen(function* () {
    const { serverProviderName, verifier, ...options } = overrides
    const kit = yield* Issuer.scoped({ issuerPath: `/${POOL}`, jwksPath: `/${POOL}/.well-known/jwks.json` })
    const identity = yield* IdentityServer.scoped({
      identityPoolId: IDENTITY_POOL,
      providerName: serverProviderName ?? PROVIDER_NAME,
      userPool: { issuer: kit.issuer, jwksUrl: kit.jwksUrl, clientIds: [CLIENT, OTHER_CLIENT] }
    })
    const service = yield* CognitoIdentityPool.make({
      identityPoolId: IDENTITY_POOL,
      endpoint: identity.url,
      userPool: { userPoolId: POOL, clientIds: [CLIENT, OTHER_CLIENT], endpoint: kit.baseUrl, verifier },
      ...options
    })
    const idToken = (sub = "user-1", claims: Record<string, unknown> = {}, expiresIn = 3600, audience = CLIENT) =>
      Effect.promise(() =>
        kit.mint({ token_use: "id", "cognito:username": sub, ...claims }, { subject: sub, audience, expiresIn })
      )
    /** The role the identity pool chose for credentials it issued. */
    const roleOf = (credentials: CognitoIdentityPool.AwsCredentials) =>
      identity.issuedTo.get(credentials.accessKeyId)?.role
    return { kit, identity, service, idToken, roleOf }
  })

/** Starts the test clock at the real time (the fixture verifies tokens against the real time). */
const syncTestClock = Effect.suspend(() => TestClock.setTime(Date.now()))

/** Makes the fixture date its credentials by the (test) clock. */
const followClock = (identity: IdentityServer.Server) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => identity.setNow(() => now)))

describe("CognitoIdentityPool", () => {
  it.scopedLive(
    "exchanges a verified id token for temporary credentials with GetId and GetCredentialsForIdentity",
    () =>
      withHttp(
        Effect.gen(function* () {
          const { identity, idToken, service } = yield* setup()
          const token = yield* idToken("alice")
          const before = Date.now()
          const credentials = yield* service.credentialsFor(token)

          expect(credentials.identityId).toBe(identity.identityIdFor("alice"))
          expect(credentials.accessKeyId).toMatch(/^ASIA/)
          expect(credentials.expiration).toBeInstanceOf(Date)
          expect(credentials.expiration.getTime()).toBeGreaterThan(before + 3500_000)
          expect(Redacted.value(credentials.secretAccessKey).length).toBeGreaterThan(20)
          expect(Redacted.value(credentials.sessionToken).length).toBeGreaterThan(20)
          expect(identity.requests).toEqual({ GetId: 1, GetCredentialsForIdentity: 1 })
          // The Logins map names the user pool as the identity pool knows it, and nothing else.
          expect(identity.loginKeys).toEqual([[PROVIDER_NAME], [PROVIDER_NAME]])

          // A Redacted token works the same (and hits the cache).
          const again = yield* service.credentialsFor(Redacted.make(token))
          expect(again.accessKeyId).toBe(credentials.accessKeyId)
        })
      )
  )

  it.scopedLive("never prints the secret parts", () =>
    withHttp(
      Effect.gen(function* () {
        const { idToken, service } = yield* setup()
        const credentials = yield* service.credentialsFor(yield* idToken())
        const secret = Redacted.value(credentials.secretAccessKey)
        const session = Redacted.value(credentials.sessionToken)
        for (const printed of [
          JSON.stringify(credentials),
          String(credentials.secretAccessKey),
          `${credentials.sessionToken}`
        ]) {
          expect(printed).not.toContain(secret)
          expect(printed).not.toContain(session)
        }
        expect(String(credentials.secretAccessKey)).toBe("<redacted>")
      })
    )
  )

  it.scopedLive(
    "exchanges only id tokens of the configured pool and app client, verified before anything is sent",
    () =>
      withHttp(
        Effect.gen(function* () {
          const { identity, idToken, kit, service } = yield* setup()
          const access = yield* Effect.promise(() =>
            kit.mint({ token_use: "access", client_id: CLIENT, username: "alice" }, { subject: "alice" })
          )
          expect(yield* Effect.flip(service.credentialsFor(access))).toMatchObject({
            _tag: "InvalidToken",
            reason: "wrong-type"
          })

          const otherClient = yield* Effect.promise(() =>
            kit.mint({ token_use: "id" }, { subject: "alice", audience: "some-other-client" })
          )
          expect(yield* Effect.flip(service.credentialsFor(otherClient))).toMatchObject({
            _tag: "InvalidToken",
            reason: "wrong-audience"
          })

          const stranger = yield* Effect.promise(() => Keys.generate("RS256", { kid: kit.currentKey.kid }))
          const forged = yield* Effect.promise(() =>
            kit.mint({ token_use: "id" }, { subject: "alice", audience: CLIENT, key: stranger })
          )
          expect(yield* Effect.flip(service.credentialsFor(forged))).toMatchObject({
            _tag: "InvalidToken",
            reason: "bad-signature"
          })

          const expired = yield* idToken("alice", {}, -120)
          expect(yield* Effect.flip(service.credentialsFor(expired))).toMatchObject({
            _tag: "InvalidToken",
            reason: "expired"
          })
          expect(yield* Effect.flip(service.credentialsFor("not-a-jwt"))).toMatchObject({ _tag: "InvalidToken" })

          expect(identity.requests).toEqual({ GetId: 0, GetCredentialsForIdentity: 0 })
        })
      )
  )

  it.scopedLive("a forged token cannot pick up cached credentials of its subject", () =>
    withHttp(
      Effect.gen(function* () {
        const { identity, idToken, kit, service } = yield* setup()
        yield* service.credentialsFor(yield* idToken("alice"))
        const stranger = yield* Effect.promise(() => Keys.generate("RS256", { kid: kit.currentKey.kid }))
        const forged = yield* Effect.promise(() =>
          kit.mint({ token_use: "id" }, { subject: "alice", audience: CLIENT, key: stranger })
        )
        expect(yield* Effect.flip(service.credentialsFor(forged))).toMatchObject({ _tag: "InvalidToken" })
        expect(identity.issued).toBe(1)
      })
    )
  )

  it.scopedLive("caches per id token: each token of a user gets the role the identity pool picks for it", () =>
    withHttp(
      Effect.gen(function* () {
        const { identity, idToken, roleOf, service } = yield* setup()
        // One user: an admin's token (groups → preferred role), the same user's token after leaving the
        // group, and a token from another app client (a per-client role).
        const admin = yield* idToken("alice", { "cognito:groups": ["admins"], "cognito:preferred_role": ADMIN_ROLE })
        const plain = yield* idToken("alice")
        const otherClient = yield* idToken("alice", {}, 3600, OTHER_CLIENT)
        expect(new Set([admin, plain, otherClient]).size).toBe(3)

        const forAdmin = yield* service.credentialsFor(admin)
        const forPlain = yield* service.credentialsFor(plain)
        const forOtherClient = yield* service.credentialsFor(otherClient)
        expect(identity.issued).toBe(3)
        expect([roleOf(forAdmin), roleOf(forPlain), roleOf(forOtherClient)]).toEqual([
          ADMIN_ROLE,
          IdentityServer.clientRole(CLIENT),
          IdentityServer.clientRole(OTHER_CLIENT)
        ])
        // The same identity, but three different sets of credentials.
        expect(new Set([forAdmin, forPlain, forOtherClient].map((credentials) => credentials.identityId))).toEqual(
          new Set([identity.identityIdFor("alice")])
        )
        expect(new Set([forAdmin, forPlain, forOtherClient].map((credentials) => credentials.accessKeyId)).size).toBe(3)

        // Each token is served its own cached credentials.
        expect((yield* service.credentialsFor(plain)).accessKeyId).toBe(forPlain.accessKeyId)
        expect((yield* service.credentialsFor(admin)).accessKeyId).toBe(forAdmin.accessKeyId)
        expect((yield* service.credentialsFor(Redacted.make(otherClient))).accessKeyId).toBe(forOtherClient.accessKeyId)
        expect(identity.issued).toBe(3)
      })
    )
  )

  it.scopedLive("a new token of a cached user is exchanged, so the identity pool's refusal is seen", () =>
    withHttp(
      Effect.gen(function* () {
        const { identity, idToken, service } = yield* setup()
        yield* service.credentialsFor(yield* idToken("alice"))
        // Signed out everywhere: the identity pool refuses the user's tokens from now on.
        identity.setFault({ _tag: "Error", type: "NotAuthorizedException" })
        const next = yield* idToken("alice", { auth_time: 1 })
        expect(yield* Effect.flip(service.credentialsFor(next))).toMatchObject({
          _tag: "InvalidToken",
          reason: "revoked"
        })
        expect(identity.requests.GetId).toBe(2)
      })
    )
  )

  it.scoped("never serves cached credentials past the token's exp, even when they last longer", () =>
    withHttp(
      Effect.gen(function* () {
        yield* syncTestClock
        // A tolerance, so the verifier still takes the token just after its exp and only the cache decides.
        const { identity, idToken, service } = yield* setup({ verifier: { clockTolerance: "2 minutes" } })
        yield* followClock(identity)
        // The token expires after 30 minutes, the credentials after an hour.
        const token = yield* idToken("alice", {}, 30 * 60)
        const first = yield* service.credentialsFor(token)
        expect(first.expiration.getTime()).toBeGreaterThan((yield* Clock.currentTimeMillis) + 55 * 60_000)

        yield* TestClock.adjust("29 minutes")
        expect((yield* service.credentialsFor(token)).accessKeyId).toBe(first.accessKeyId)
        expect(identity.issued).toBe(1)

        yield* TestClock.adjust("2 minutes")
        const after = yield* service.credentialsFor(token)
        expect(after.accessKeyId).not.toBe(first.accessKeyId)
        expect(identity.issued).toBe(2)
        // Nor are credentials kept for a token that has already expired.
        yield* service.credentialsFor(token)
        expect(identity.issued).toBe(3)
      })
    )
  )

  it.scoped("caches credentials per token until refreshBefore before they expire", () =>
    withHttp(
      Effect.gen(function* () {
        yield* syncTestClock
        const { identity, idToken, service } = yield* setup()
        yield* followClock(identity)
        // Valid for longer than the credentials, so only the cache decides.
        const token = yield* idToken("alice", {}, 3 * 3600)

        const first = yield* service.credentialsFor(token)
        expect(identity.issued).toBe(1)
        expect((yield* service.credentialsFor(token)).accessKeyId).toBe(first.accessKeyId)

        // The credentials last an hour; the default refreshBefore is 5 minutes.
        yield* TestClock.adjust("54 minutes")
        expect((yield* service.credentialsFor(token)).accessKeyId).toBe(first.accessKeyId)
        expect(identity.issued).toBe(1)

        yield* TestClock.adjust("1 minute")
        yield* followClock(identity)
        const renewed = yield* service.credentialsFor(token)
        expect(renewed.accessKeyId).not.toBe(first.accessKeyId)
        expect(identity.issued).toBe(2)

        // The renewed credentials are cached in turn.
        yield* TestClock.adjust("30 minutes")
        expect((yield* service.credentialsFor(token)).accessKeyId).toBe(renewed.accessKeyId)
        expect(identity.issued).toBe(2)
      })
    )
  )

  it.scoped("honours a custom refreshBefore", () =>
    withHttp(
      Effect.gen(function* () {
        yield* syncTestClock
        const { identity, idToken, service } = yield* setup({ refreshBefore: "20 minutes" })
        yield* followClock(identity)
        const token = yield* idToken("alice", {}, 3 * 3600)
        yield* service.credentialsFor(token)
        yield* TestClock.adjust("39 minutes")
        yield* service.credentialsFor(token)
        expect(identity.issued).toBe(1)
        yield* TestClock.adjust("1 minute")
        yield* service.credentialsFor(token)
        expect(identity.issued).toBe(2)
      })
    )
  )

  it.scopedLive("keeps one entry per token, the least recently used dropped first", () =>
    withHttp(
      Effect.gen(function* () {
        const { identity, idToken, service } = yield* setup({ maxEntries: 2 })
        const [a, b, c] = yield* Effect.all([idToken("a"), idToken("b"), idToken("c")])
        const forA = yield* service.credentialsFor(a)
        const forB = yield* service.credentialsFor(b)
        expect(forA.identityId).not.toBe(forB.identityId)
        expect(identity.issued).toBe(2)
        yield* service.credentialsFor(a) // a is now the most recently used
        yield* service.credentialsFor(c) // evicts b
        expect(identity.issued).toBe(3)
        yield* service.credentialsFor(a)
        yield* service.credentialsFor(c)
        expect(identity.issued).toBe(3)
        yield* service.credentialsFor(b)
        expect(identity.issued).toBe(4)
      })
    )
  )

  it.scopedLive("shares one exchange among concurrent requests with the same token, and only those", () =>
    withHttp(
      Effect.gen(function* () {
        const { identity, idToken, roleOf, service } = yield* setup()
        identity.setFault({ _tag: "Slow", millis: 300 }, "GetId")
        const token = yield* idToken("alice")
        const admin = yield* idToken("alice", { "cognito:groups": ["admins"], "cognito:preferred_role": ADMIN_ROLE })
        const other = yield* idToken("bob")
        const results = yield* Effect.all(
          [
            ...Array.from({ length: 10 }, () => service.credentialsFor(token)),
            service.credentialsFor(other),
            service.credentialsFor(admin)
          ],
          { concurrency: "unbounded" }
        )
        const alice = results.slice(0, 10)
        expect(new Set(alice.map((credentials) => credentials.accessKeyId)).size).toBe(1)
        expect(results[10]?.identityId).toBe(identity.identityIdFor("bob"))
        // The same user's other token did not join the first token's exchange.
        const forAdmin = results[11]
        expect(forAdmin?.identityId).toBe(identity.identityIdFor("alice"))
        expect(forAdmin === undefined ? undefined : roleOf(forAdmin)).toBe(ADMIN_ROLE)
        expect(alice[0] === undefined ? undefined : roleOf(alice[0])).toBe(IdentityServer.clientRole(CLIENT))
        expect(identity.requests).toEqual({ GetId: 3, GetCredentialsForIdentity: 3 })
      })
    )
  )

  it.scopedLive("a caller that gives up does not cancel the exchange others wait for", () =>
    withHttp(
      Effect.gen(function* () {
        const { identity, idToken, service } = yield* setup()
        identity.setFault({ _tag: "Slow", millis: 300 }, "GetId")
        const token = yield* idToken("alice")
        const quitter = yield* Effect.fork(service.credentialsFor(token))
        yield* Effect.sleep("50 millis")
        const waiter = yield* Effect.fork(service.credentialsFor(token))
        yield* Fiber.interrupt(quitter)
        const credentials = yield* Fiber.join(waiter)
        expect(credentials.identityId).toBe(identity.identityIdFor("alice"))
        expect(identity.requests).toEqual({ GetId: 1, GetCredentialsForIdentity: 1 })
        expect(identity.abandoned).toBe(0)
      })
    )
  )

  it.scopedLive("maps identity pool failures, and does not cache them", () =>
    withHttp(
      Effect.gen(function* () {
        const { identity, idToken, service } = yield* setup()
        const token = yield* idToken("alice")
        const cases: ReadonlyArray<readonly [IdentityServer.Fault, Record<string, unknown>]> = [
          [
            { _tag: "Error", type: "NotAuthorizedException" },
            { _tag: "InvalidToken", reason: "revoked" }
          ],
          [
            { _tag: "Error", type: "ResourceNotFoundException" },
            { _tag: "ProviderUnavailable", reason: "misconfigured" }
          ],
          [
            { _tag: "Error", type: "InvalidIdentityPoolConfigurationException" },
            { _tag: "ProviderUnavailable", reason: "misconfigured" }
          ],
          [
            { _tag: "Error", type: "TooManyRequestsException" },
            { _tag: "ProviderUnavailable", reason: "unreachable" }
          ],
          [
            { _tag: "Error", type: "InternalErrorException", status: 500 },
            { _tag: "ProviderUnavailable", reason: "unreachable" }
          ],
          [
            { _tag: "Error", type: "SomethingNewException", status: 418 },
            { _tag: "ProviderUnavailable", reason: "bad-response" }
          ],
          [{ _tag: "Garbage" }, { _tag: "ProviderUnavailable", reason: "bad-response" }],
          [{ _tag: "Down" }, { _tag: "ProviderUnavailable", reason: "unreachable" }]
        ]
        for (const [fault, expected] of cases) {
          identity.setFault(fault, "GetCredentialsForIdentity")
          const error = yield* Effect.flip(service.credentialsFor(token))
          expect({ fault: fault._tag, ...error }).toMatchObject({ fault: fault._tag, ...expected })
          if (error._tag === "ProviderUnavailable") expect(error.provider).toBe("cognito-identity")
          // Neither the token nor anything the server said is in the error.
          expect(
            `${String(error)} ${JSON.stringify(error)} ${String(error._tag === "ProviderUnavailable" ? error.cause : "")}`
          ).not.toContain(token)
        }
        identity.setFault({ _tag: "None" })
        const credentials = yield* service.credentialsFor(token)
        expect(credentials.identityId).toBe(identity.identityIdFor("alice"))
      })
    )
  )

  it.scopedLive("bounds the exchange by its timeout and aborts the request", () =>
    withHttp(
      Effect.gen(function* () {
        const { identity, idToken, service } = yield* setup({ timeout: "300 millis" })
        const token = yield* idToken("alice")
        identity.setFault({ _tag: "Slow", millis: 10_000 }, "GetId")
        const started = Date.now()
        const error = yield* Effect.flip(service.credentialsFor(token))
        const elapsed = Date.now() - started
        expect(error).toBeInstanceOf(AuthError.ProviderUnavailable)
        expect(error).toMatchObject({ reason: "timeout", provider: "cognito-identity" })
        expect(elapsed).toBeLessThan(3000)
        // The SDK's request was aborted, not left hanging.
        const abandoned = yield* Effect.sync(() => identity.abandoned).pipe(
          Effect.delay("20 millis"),
          Effect.repeat({ until: (count) => count > 0, times: 100 })
        )
        expect(abandoned).toBe(1)

        identity.setFault({ _tag: "None" })
        expect((yield* service.credentialsFor(token)).identityId).toBe(identity.identityIdFor("alice"))
      })
    )
  )

  it.scopedLive("sends the configured login provider name", () =>
    withHttp(
      Effect.gen(function* () {
        const custom = yield* setup({
          serverProviderName: "idp.example.com/pool",
          loginProvider: "idp.example.com/pool"
        })
        yield* custom.service.credentialsFor(yield* custom.idToken())
        expect(custom.identity.loginKeys[0]).toEqual(["idp.example.com/pool"])

        // A pool configured with another provider name refuses the default one.
        const mismatch = yield* setup({ serverProviderName: "idp.example.com/pool" })
        expect(yield* Effect.flip(mismatch.service.credentialsFor(yield* mismatch.idToken()))).toMatchObject({
          _tag: "InvalidToken",
          reason: "revoked"
        })
      })
    )
  )

  it.scopedLive("refuses bad settings when it is built", () =>
    withHttp(
      Effect.gen(function* () {
        const userPool = { userPoolId: POOL, clientIds: [CLIENT] }
        const bad: ReadonlyArray<CognitoIdentityPool.Options> = [
          { identityPoolId: "not-a-pool", userPool },
          { identityPoolId: "us-east-1", userPool },
          { identityPoolId: IDENTITY_POOL, region: "eu-west-1", userPool },
          { identityPoolId: IDENTITY_POOL, endpoint: "http://cognito.example.com", userPool },
          { identityPoolId: IDENTITY_POOL, userPool: { userPoolId: "nonsense", clientIds: [CLIENT] } },
          { identityPoolId: IDENTITY_POOL, userPool: { userPoolId: POOL, clientIds: [] } },
          { identityPoolId: IDENTITY_POOL, userPool, timeout: 0 },
          { identityPoolId: IDENTITY_POOL, userPool, refreshBefore: Duration.infinity },
          { identityPoolId: IDENTITY_POOL, userPool, maxEntries: 0 }
        ]
        for (const [index, options] of bad.entries()) {
          const error = yield* Effect.flip(CognitoIdentityPool.make(options))
          expect({ index, isConfigError: ConfigError.isConfigError(error) }).toEqual({ index, isConfigError: true })
        }
        // GovCloud and China identity pools are fine.
        for (const [identityPoolId, userPoolId] of [
          ["us-gov-west-1:0a1b2c3d-1111-2222-3333-444455556666", "us-gov-west-1_AbC123"],
          ["cn-north-1:0a1b2c3d-1111-2222-3333-444455556666", "cn-north-1_AbC123"]
        ] as const) {
          yield* CognitoIdentityPool.make({ identityPoolId, userPool: { userPoolId, clientIds: [CLIENT] } })
        }
      })
    )
  )

  it.scopedLive("reads its settings from configuration", () =>
    Effect.gen(function* () {
      const kit = yield* Issuer.scoped({ issuerPath: `/${POOL}`, jwksPath: `/${POOL}/.well-known/jwks.json` })
      const identity = yield* IdentityServer.scoped({
        identityPoolId: IDENTITY_POOL,
        providerName: PROVIDER_NAME,
        userPool: { issuer: kit.issuer, jwksUrl: kit.jwksUrl, clientIds: [CLIENT] }
      })
      const token = yield* Effect.promise(() => kit.mint({ token_use: "id" }, { subject: "alice", audience: CLIENT }))
      const configured = ConfigProvider.fromMap(
        new Map([
          ["AUTH_COGNITO_IDENTITY_POOL_ID", IDENTITY_POOL],
          ["AUTH_COGNITO_IDENTITY_ENDPOINT", identity.url],
          ["AUTH_COGNITO_USER_POOL_ID", POOL],
          ["AUTH_COGNITO_CLIENT_IDS", `other-client, ${CLIENT}`],
          ["AUTH_COGNITO_ENDPOINT", kit.baseUrl],
          // Ignored here: an identity pool only ever takes id tokens.
          ["AUTH_COGNITO_TOKEN_USE", "access"]
        ])
      )
      const credentials = yield* Effect.flatMap(CognitoIdentityPool.CognitoIdentityPool, (service) =>
        service.credentialsFor(token)
      ).pipe(
        Effect.provide(CognitoIdentityPool.layerConfig()),
        Effect.provide(NodeHttpClient.layerUndici),
        Effect.withConfigProvider(configured)
      )
      expect(credentials.identityId).toBe(identity.identityIdFor("alice"))

      const missing = yield* Effect.flip(
        Effect.flatMap(CognitoIdentityPool.CognitoIdentityPool, (service) => service.credentialsFor(token)).pipe(
          Effect.provide(CognitoIdentityPool.layerConfig()),
          Effect.provide(NodeHttpClient.layerUndici),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["AUTH_COGNITO_USER_POOL_ID", POOL]])))
        )
      )
      expect(ConfigError.isConfigError(missing)).toBe(true)
    })
  )
})

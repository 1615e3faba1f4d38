/**
 * `Cognito`: user pool id and access tokens, with the test kit's issuer standing in for the pool (JWKS at
 * `/<poolId>/.well-known/jwks.json`, issuer `{endpoint}/<poolId>`) over real HTTP on 127.0.0.1: token_use,
 * app clients, groups and roles, machine-to-machine clients, the updated issuer form, pool ids of every
 * partition, and configuration.
 */
import type { AuthProvider } from "@effect-auth/core"
import { Authenticator, Credential } from "@effect-auth/core"
import { Cognito } from "@effect-auth/jwt"
import { Issuer } from "@effect-auth/testing"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"

const POOL = "us-east-1_AbC123xyz"
const CLIENT = "4r5t6y7u8i9o0pclient"
const OTHER_CLIENT = "1q2w3e4r5t6y7uother"

const withHttp = <A, E>(self: Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>) =>
  Effect.provide(self, NodeHttpClient.layerUndici)

/** The test kit's issuer laid out as a user pool: issuer `{baseUrl}/<pool>`, JWKS under it. */
const pool = (userPoolId = POOL, options: Issuer.IssuerOptions = {}) =>
  Issuer.scoped({ issuerPath: `/${userPoolId}`, jwksPath: `/${userPoolId}/.well-known/jwks.json`, ...options })

const cognito = (kit: Issuer.Issuer, options: Partial<Cognito.IssuerOptions> = {}) =>
  Cognito.provider({ userPoolId: POOL, clientIds: [CLIENT], endpoint: kit.baseUrl, ...options })

const idToken = (kit: Issuer.Issuer, claims: Record<string, unknown> = {}, options: Issuer.IssuerMintOptions = {}) =>
  Effect.promise(() =>
    kit.mint(
      { token_use: "id", "cognito:username": "alice", email: "alice@example.com", ...claims },
      { subject: "sub-alice", audience: CLIENT, ...options }
    )
  )

const accessToken = (
  kit: Issuer.Issuer,
  claims: Record<string, unknown> = {},
  options: Issuer.IssuerMintOptions = {}
) =>
  Effect.promise(() =>
    kit.mint(
      { token_use: "access", client_id: CLIENT, username: "alice", scope: "openid email", ...claims },
      { subject: "sub-alice", ...options }
    )
  )

const authenticate = (provider: AuthProvider.AuthProvider, token: string) =>
  provider.authenticate(Credential.Bearer({ token: Redacted.make(token) }))

/** The principal an authenticator built from the provider gives for the token, with its grants loaded. */
const principal = (provider: AuthProvider.AuthProvider, token: string) =>
  Effect.gen(function* () {
    const authenticator = yield* Authenticator.make({ providers: [provider] })
    const principal = yield* authenticator.authenticate({ authorization: `Bearer ${token}` })
    return {
      ...principal,
      groups: yield* principal.groups,
      roles: yield* principal.roles,
      permissions: yield* principal.permissions
    }
  })

const refused = (provider: AuthProvider.AuthProvider, token: string) => Effect.flip(authenticate(provider, token))

describe("Cognito.issuer", () => {
  it.scopedLive("accepts an id token: sub, profile, groups; no permissions", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* pool()
        const provider = yield* cognito(kit)
        const token = yield* idToken(kit, { name: "Alice Liddell", "cognito:groups": ["admins", "staff"] })
        const result = yield* principal(provider, token)
        expect(result).toMatchObject({
          id: "sub-alice",
          kind: "user",
          provider: "cognito",
          name: "Alice Liddell",
          email: "alice@example.com",
          groups: ["admins", "staff"],
          roles: [],
          permissions: []
        })
        expect(result.claims["token_use"]).toBe("id")
        // The default name falls back on the user name.
        const plain = yield* authenticate(provider, yield* idToken(kit))
        expect(plain.name).toBe("alice")
      })
    )
  )

  it.scopedLive("accepts an access token: scopes become permissions, username the name", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* pool()
        const provider = yield* cognito(kit)
        const token = yield* accessToken(kit, {
          scope: "openid email aws.cognito.signin.user.admin",
          "cognito:groups": ["staff"]
        })
        expect(yield* principal(provider, token)).toMatchObject({
          id: "sub-alice",
          kind: "user",
          name: "alice",
          groups: ["staff"],
          roles: [],
          permissions: ["openid", "email", "aws.cognito.signin.user.admin"]
        })
        // Without groups, none.
        expect(yield* principal(provider, yield* accessToken(kit))).toMatchObject({ groups: [] })
      })
    )
  )

  it.scopedLive("tokenUse decides which kind of token is accepted", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* pool()
        const id = yield* idToken(kit)
        const access = yield* accessToken(kit)
        const onlyId = yield* cognito(kit, { tokenUse: "id" })
        const onlyAccess = yield* cognito(kit, { tokenUse: "access" })
        const any = yield* cognito(kit)

        yield* authenticate(onlyId, id)
        expect(yield* refused(onlyId, access)).toMatchObject({ _tag: "InvalidToken", reason: "wrong-type" })
        yield* authenticate(onlyAccess, access)
        expect(yield* refused(onlyAccess, id)).toMatchObject({ _tag: "InvalidToken", reason: "wrong-type" })
        yield* authenticate(any, id)
        yield* authenticate(any, access)
      })
    )
  )

  it.scopedLive("requires token_use to be id or access", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* pool()
        const provider = yield* cognito(kit)
        expect(yield* refused(provider, yield* idToken(kit, { token_use: undefined }))).toMatchObject({
          reason: "missing-claim"
        })
        for (const use of ["refresh", "ID", "", ["id"], 1]) {
          expect(yield* refused(provider, yield* idToken(kit, { token_use: use }))).toMatchObject({
            _tag: "InvalidToken",
            reason: "wrong-type"
          })
        }
      })
    )
  )

  it.scopedLive("checks the app client: aud of an id token, client_id of an access token", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* pool()
        const provider = yield* cognito(kit)
        const wrongAudience = { _tag: "InvalidToken", reason: "wrong-audience" }

        expect(yield* refused(provider, yield* idToken(kit, {}, { audience: OTHER_CLIENT }))).toMatchObject(
          wrongAudience
        )
        expect(yield* refused(provider, yield* accessToken(kit, { client_id: OTHER_CLIENT }))).toMatchObject(
          wrongAudience
        )
        // Each kind is checked in its own claim: the other one's claim does not count.
        expect(
          yield* refused(provider, yield* idToken(kit, { client_id: CLIENT }, { audience: OTHER_CLIENT }))
        ).toMatchObject(wrongAudience)
        expect(
          yield* refused(provider, yield* accessToken(kit, { client_id: OTHER_CLIENT }, { audience: CLIENT }))
        ).toMatchObject(wrongAudience)
        expect(
          yield* refused(provider, yield* accessToken(kit, { client_id: undefined }, { audience: CLIENT }))
        ).toMatchObject({ reason: "missing-claim" })
        expect(yield* refused(provider, yield* idToken(kit, {}, { audience: undefined }))).toMatchObject({
          reason: "missing-claim"
        })
        expect(yield* refused(provider, yield* accessToken(kit, { client_id: [CLIENT] }))).toMatchObject(wrongAudience)

        // Several app clients.
        const both = yield* cognito(kit, { clientIds: [CLIENT, OTHER_CLIENT] })
        yield* authenticate(both, yield* idToken(kit, {}, { audience: OTHER_CLIENT }))
        yield* authenticate(both, yield* accessToken(kit, { client_id: OTHER_CLIENT }))
      })
    )
  )

  it.scopedLive("turns groups into roles on request", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* pool()
        const token = yield* idToken(kit, { "cognito:groups": ["admins", "staff"] })
        expect(yield* principal(yield* cognito(kit, { groupsAsRoles: true }), token)).toMatchObject({
          groups: ["admins", "staff"],
          roles: ["admins", "staff"]
        })
        const mapped = yield* cognito(kit, {
          groupsAsRoles: (groups) => groups.filter((group) => group !== "staff").map((group) => `role:${group}`)
        })
        expect(yield* principal(mapped, token)).toMatchObject({ groups: ["admins", "staff"], roles: ["role:admins"] })
        // IAM role ARNs are not application roles.
        const withIamRoles = yield* idToken(kit, {
          "cognito:groups": ["admins"],
          "cognito:roles": ["arn:aws:iam::123456789012:role/Admins"],
          "cognito:preferred_role": "arn:aws:iam::123456789012:role/Admins"
        })
        expect(yield* principal(yield* cognito(kit), withIamRoles)).toMatchObject({ roles: [] })

        const broken = yield* cognito(kit, {
          groupsAsRoles: () => {
            throw new Error("boom")
          }
        })
        expect(yield* refused(broken, token)).toMatchObject({ _tag: "InvalidToken", reason: "invalid-claim" })
      })
    )
  )

  it.scopedLive("maps the profile with a custom mapper", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* pool()
        const provider = yield* cognito(kit, {
          profile: (claims) => ({
            name: typeof claims["given_name"] === "string" ? claims["given_name"] : undefined,
            email: typeof claims["custom:work_email"] === "string" ? claims["custom:work_email"] : undefined
          })
        })
        const identity = yield* authenticate(
          provider,
          yield* idToken(kit, { given_name: "Alice", "custom:work_email": "alice@work.example" })
        )
        expect(identity).toMatchObject({ name: "Alice", email: "alice@work.example" })
      })
    )
  )

  it.scopedLive("recognises a machine-to-machine (client credentials) access token", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* pool()
        const provider = yield* cognito(kit, { tokenUse: "access" })
        const m2m = yield* accessToken(
          kit,
          { username: undefined, scope: "orders/read orders/write" },
          { subject: CLIENT }
        )
        expect(yield* principal(provider, m2m)).toMatchObject({
          id: CLIENT,
          kind: "machine",
          groups: [],
          permissions: ["orders/read", "orders/write"]
        })
        // A user's access token is a user's, even for a client named like its subject.
        const user = yield* accessToken(kit, { username: "alice" }, { subject: CLIENT })
        expect(yield* authenticate(provider, user)).toMatchObject({ kind: "user" })
        const other = yield* accessToken(kit, { username: undefined }, { subject: "sub-alice" })
        expect(yield* authenticate(provider, other)).toMatchObject({ kind: "user" })
      })
    )
  )

  it.scopedLive("verifies RS256 only, requires exp, and refuses another pool's or a forged token", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* pool()
        const provider = yield* cognito(kit)
        expect(yield* refused(provider, yield* idToken(kit, { exp: undefined }))).toMatchObject({
          reason: "missing-claim"
        })
        expect(yield* refused(provider, yield* idToken(kit, {}, { expiresIn: -120 }))).toMatchObject({
          reason: "expired"
        })

        const ecPool = yield* pool(POOL, { algorithm: "ES256" })
        const ec = yield* cognito(ecPool)
        expect(yield* refused(ec, yield* idToken(ecPool))).toMatchObject({ reason: "unsupported-algorithm" })

        const otherPool = yield* pool("us-east-1_Other999")
        const foreign = yield* idToken(otherPool)
        expect(yield* refused(provider, foreign)).toMatchObject({ reason: "unknown-issuer" })

        // Claims this pool's issuer, signed by the other pool: this pool's keys do not verify it.
        const forged = yield* idToken(otherPool, { iss: kit.issuer })
        expect(yield* refused(provider, forged)).toMatchObject({ _tag: "InvalidToken", reason: "unknown-key" })
      })
    )
  )

  it.scopedLive("accepts the updated issuer form only when asked, each form with its own keys", () =>
    withHttp(
      Effect.gen(function* () {
        const original = yield* pool()
        const updated = yield* pool()
        const onlyOriginal = yield* cognito(original)
        const both = yield* cognito(original, { acceptNewIssuerForm: true, newIssuerEndpoint: updated.baseUrl })

        const fromUpdated = yield* idToken(updated)
        expect(yield* refused(onlyOriginal, fromUpdated)).toMatchObject({ reason: "unknown-issuer" })
        expect(updated.requests.jwks).toBe(0)

        yield* authenticate(both, yield* idToken(original))
        // The updated issuer's keys are fetched only once such a token arrives.
        expect(updated.requests.jwks).toBe(0)
        expect(yield* authenticate(both, fromUpdated)).toMatchObject({ id: "sub-alice", provider: "cognito" })
        expect(updated.requests.jwks).toBe(1)

        // A token claiming the updated issuer is checked against that issuer's keys only.
        const crossed = yield* idToken(original, { iss: updated.issuer })
        expect(yield* refused(both, crossed)).toMatchObject({ _tag: "InvalidToken", reason: "unknown-key" })
      })
    )
  )
})

describe("Cognito.userPool", () => {
  const issuerOf = (options: Cognito.UserPoolOptions) => Either.map(Cognito.userPool(options), (pool) => pool.issuer)

  it("derives the issuer and region from pool ids of every partition", () => {
    for (const [userPoolId, region] of [
      ["us-east-1_AbC123", "us-east-1"],
      ["us-gov-west-1_AbC123xyz", "us-gov-west-1"],
      ["cn-north-1_AbC123xyz", "cn-north-1"],
      ["eu-central-2_AbC123xyz", "eu-central-2"],
      ["ap-southeast-5_Z9", "ap-southeast-5"],
      ["eusc-de-east-1_AbC123xyz", "eusc-de-east-1"]
    ] as const) {
      expect(Cognito.userPool({ userPoolId })).toStrictEqual(
        Either.right({
          userPoolId,
          region,
          issuer: `https://cognito-idp.${region}.amazonaws.com/${userPoolId}`,
          newIssuer: undefined,
          providerName: `cognito-idp.${region}.amazonaws.com/${userPoolId}`
        })
      )
    }
    expect(Cognito.userPool({ userPoolId: "eu-west-1_AbC123", acceptNewIssuerForm: true })).toMatchObject(
      Either.right({ newIssuer: "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123" })
    )
    expect(issuerOf({ userPoolId: "eu-west-1_AbC123", region: "eu-west-1" })).toStrictEqual(
      Either.right("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123")
    )
  })

  it("refuses nonsense pool ids, a mismatched region and unsafe endpoints", () => {
    for (const userPoolId of [
      "",
      "us-east-1",
      "us-east-1_",
      "_AbC123",
      "US-EAST-1_AbC123",
      "us-east-1_AbC/../x",
      "us-east-1_Ab-C",
      "us-east-1_AbC123 ",
      "foo-central-bar_AbC123",
      "local_AbCd1234",
      `us-east-1_${"a".repeat(60)}`
    ]) {
      const result = Cognito.userPool({ userPoolId })
      expect({ userPoolId, configError: Either.isLeft(result) && ConfigError.isConfigError(result.left) }).toEqual({
        userPoolId,
        configError: true
      })
    }
    expect(Either.isLeft(Cognito.userPool({ userPoolId: "us-east-1_AbC123", region: "us-east-2" }))).toBe(true)
    for (const endpoint of [
      "http://cognito.example.com",
      "ftp://127.0.0.1",
      "not a url",
      "http://127.0.0.1:9229?x=1",
      "https://user:pw@cognito.example.com"
    ]) {
      expect(Either.isLeft(Cognito.userPool({ userPoolId: "local_AbCd1234", endpoint }))).toBe(true)
    }
    // An endpoint needs an endpoint for the updated form too.
    expect(
      Either.isLeft(
        Cognito.userPool({ userPoolId: "local_AbCd1234", endpoint: "http://127.0.0.1:9229", acceptNewIssuerForm: true })
      )
    ).toBe(true)
  })

  it("accepts emulator pool ids with an endpoint, and normalises the endpoint", () => {
    expect(Cognito.userPool({ userPoolId: "local_AbCd1234", endpoint: "http://127.0.0.1:9229/" })).toStrictEqual(
      Either.right({
        userPoolId: "local_AbCd1234",
        region: "local",
        issuer: "http://127.0.0.1:9229/local_AbCd1234",
        newIssuer: undefined,
        providerName: "cognito-idp.local.amazonaws.com/local_AbCd1234"
      })
    )
    expect(
      issuerOf({ userPoolId: "us-east-1_AbC123", endpoint: "https://cognito-idp.localhost.localstack.cloud" })
    ).toStrictEqual(Either.right("https://cognito-idp.localhost.localstack.cloud/us-east-1_AbC123"))
  })
})

describe("Cognito configuration", () => {
  it.scopedLive("refuses bad issuer options when it is built", () =>
    withHttp(
      Effect.gen(function* () {
        const unknownUse: string = "both"
        const bad: ReadonlyArray<Cognito.IssuerOptions> = [
          { userPoolId: "nonsense", clientIds: [CLIENT] },
          { userPoolId: POOL, clientIds: [] },
          { userPoolId: POOL, clientIds: [""] },
          { userPoolId: POOL, clientIds: [CLIENT], tokenUse: unknownUse as Cognito.TokenUse },
          { userPoolId: POOL, clientIds: [CLIENT], region: "eu-west-1" },
          { userPoolId: POOL, clientIds: [CLIENT], verifier: { clockTolerance: "1 hour" } }
        ]
        for (const [index, options] of bad.entries()) {
          const error = yield* Effect.flip(Cognito.issuer(options))
          expect({ index, configError: ConfigError.isConfigError(error) }).toEqual({ index, configError: true })
        }
      })
    )
  )

  it.scopedLive("reads a pool from the environment", () =>
    withHttp(
      Effect.gen(function* () {
        const kit = yield* pool()
        const env = (entries: ReadonlyArray<readonly [string, string]>) => ConfigProvider.fromMap(new Map(entries))
        const base = [
          ["AUTH_COGNITO_USER_POOL_ID", POOL],
          ["AUTH_COGNITO_CLIENT_IDS", ` ${OTHER_CLIENT} , ${CLIENT} `],
          ["AUTH_COGNITO_ENDPOINT", kit.baseUrl]
        ] as const

        expect(yield* Effect.withConfigProvider(Cognito.issuerConfig, env(base))).toStrictEqual({
          userPoolId: POOL,
          region: undefined,
          clientIds: [OTHER_CLIENT, CLIENT],
          tokenUse: "any",
          endpoint: kit.baseUrl
        })

        const accessOnly = yield* Effect.withConfigProvider(
          Cognito.issuerFromConfig({ groupsAsRoles: true }),
          env([...base, ["AUTH_COGNITO_TOKEN_USE", "access"], ["AUTH_COGNITO_REGION", "us-east-1"]])
        )
        expect(accessOnly.name).toBe("cognito")
        expect(accessOnly.accepts(kit.issuer)).toBe(true)
        const verified = yield* accessOnly.verify(yield* accessToken(kit, { "cognito:groups": ["ops"] }))
        expect(yield* accessOnly.identify(verified)).toMatchObject({ grants: { groups: ["ops"], roles: ["ops"] } })
        expect(yield* Effect.flip(accessOnly.verify(yield* idToken(kit)))).toMatchObject({ reason: "wrong-type" })

        for (const entries of [
          [["AUTH_COGNITO_CLIENT_IDS", CLIENT]],
          [["AUTH_COGNITO_USER_POOL_ID", POOL]],
          [...base.filter(([name]) => name !== "AUTH_COGNITO_CLIENT_IDS"), ["AUTH_COGNITO_CLIENT_IDS", " , "]],
          [...base, ["AUTH_COGNITO_TOKEN_USE", "refresh"]],
          [...base, ["AUTH_COGNITO_REGION", "eu-west-1"]],
          [
            ...base.filter(([name]) => name !== "AUTH_COGNITO_ENDPOINT"),
            ["AUTH_COGNITO_ENDPOINT", "http://idp.example.com"]
          ]
        ] as ReadonlyArray<ReadonlyArray<readonly [string, string]>>) {
          const error = yield* Effect.flip(Effect.withConfigProvider(Cognito.issuerFromConfig(), env(entries)))
          expect(ConfigError.isConfigError(error)).toBe(true)
        }
      })
    )
  )
})

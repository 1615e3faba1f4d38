import { Authenticated, Authenticator, GroupsProvider, Guard } from "@effect-auth/core"
import type { AuthProvider } from "@effect-auth/core"
import { EntraId, JwtProvider } from "@effect-auth/jwt"
import { Issuer, Keys } from "@effect-auth/testing"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

// The test kit's issuer stands in for login.microsoftonline.com: the authority is its base URL, it answers
// discovery at any `…/.well-known/openid-configuration` and serves the keys at Microsoft's JWKS path. v1
// tokens carry Microsoft's fixed `https://sts.windows.net/{tid}/` issuer: it is only compared, never
// fetched, so the kit mints them with that `iss` and the keys still come from the local authority.

const tenantA = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
const tenantB = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
const tenantC = "cccccccc-3333-4333-8333-cccccccccccc"
const clientId = "11111111-0000-4000-8000-000000000001"
const appIdUri = "api://orders"
const userOid = "99999999-0000-4000-8000-000000000009"
const appOid = "77777777-0000-4000-8000-000000000007"
const graphAppId = "00000003-0000-0000-c000-000000000000"

interface Microsoft {
  readonly server: Issuer.Issuer
  readonly authority: string
  readonly v2: (tid: string) => string
  /** A token of `tid`, a user's delegated token by default; claims override (undefined removes). */
  readonly token: (options: {
    readonly tid: string | undefined
    readonly version?: EntraId.Version | undefined
    readonly iss?: string | undefined
    readonly aud?: string | ReadonlyArray<string> | undefined
    readonly claims?: Record<string, unknown> | undefined
    readonly key?: Keys.SigningKey | undefined
  }) => Effect.Effect<string>
}

const v1 = (tid: string) => `https://sts.windows.net/${tid}/`

const microsoft = (options?: {
  /** The tenant segment of the discovery document's issuer, default the multi-tenant template. */
  readonly discoveryTenant?: string | undefined
  /** The JWK `issuer` member of a key, default Microsoft's `{tenantid}` template; undefined omits it. */
  readonly keyIssuer?: ((key: Keys.SigningKey, authority: string) => string | undefined) | undefined
}): Effect.Effect<Microsoft, never, Scope.Scope> =>
  Effect.gen(function* () {
    let authority = ""
    const server = yield* Issuer.scoped({
      jwksPath: "/common/discovery/v2.0/keys",
      metadata: (baseUrl) => ({ issuer: `${baseUrl}/${options?.discoveryTenant ?? "{tenantid}"}/v2.0` }),
      jwkExtras: (key) => {
        const issuer = options?.keyIssuer ? options.keyIssuer(key, authority) : `${authority}/{tenantid}/v2.0`
        return issuer === undefined ? {} : { issuer }
      }
    })
    authority = server.baseUrl
    const v2 = (tid: string) => `${authority}/${tid}/v2.0`
    return {
      server,
      authority,
      v2,
      token: ({ aud = clientId, claims, iss, key, tid, version = "2.0" }) =>
        Effect.promise(() =>
          server.mint(
            {
              iss: iss ?? (tid === undefined ? v2(tenantA) : version === "1.0" ? v1(tid) : v2(tid)),
              tid,
              ver: version,
              oid: userOid,
              scp: "Orders.Read Orders.Write",
              name: "Alice Example",
              preferred_username: "alice@contoso.com",
              ...claims
            },
            { audience: aud, subject: "pairwise-subject-of-alice", key }
          )
        )
    }
  })

const withClient = <A, E>(
  effect: Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>
): Effect.Effect<A, E, Scope.Scope> => Effect.provide(effect, NodeHttpClient.layerUndici)

/** An authenticator built the way an application builds it: `Authenticator.layer([provider])`. */
const authenticator = (
  provider: Effect.Effect<AuthProvider.AuthProvider, ConfigError.ConfigError, HttpClient.HttpClient | Scope.Scope>,
  extra: Layer.Layer<never> = Layer.empty
): Effect.Effect<Authenticator.Authenticator, ConfigError.ConfigError, Scope.Scope> =>
  Layer.build(
    Authenticator.layer([provider]).pipe(Layer.provide(NodeHttpClient.layerUndici), Layer.provide(extra))
  ).pipe(Effect.map(Context.get(Authenticator.Authenticator)))

const entra = (options: EntraId.Options, extra?: Layer.Layer<never>) => authenticator(EntraId.provider(options), extra)

const bearer = (auth: Authenticator.Authenticator, token: string) =>
  auth.authenticate({ authorization: `Bearer ${token}` })

const refusal = (auth: Authenticator.Authenticator, token: string) => Effect.flip(bearer(auth, token))

describe("EntraId tokens", () => {
  it.scopedLive("accepts a v2 user token of the tenant and maps Microsoft's claims", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft({ discoveryTenant: tenantA })
      const auth = yield* entra({ tenant: tenantA, audience: clientId, authority: ms.authority })
      const principal = yield* bearer(
        auth,
        yield* ms.token({ tid: tenantA, claims: { roles: ["Orders.Admin"], groups: ["g-1", "g-2"] } })
      )
      expect(principal).toMatchObject({
        id: userOid,
        kind: "user",
        provider: "entra",
        name: "Alice Example",
        email: "alice@contoso.com"
      })
      expect(principal.claims.tid).toBe(tenantA)
      expect(principal.claims.sub).toBe("pairwise-subject-of-alice")
      expect(yield* principal.permissions).toStrictEqual(["Orders.Read", "Orders.Write"])
      expect(yield* principal.roles).toStrictEqual(["Orders.Admin"])
      expect(yield* principal.groups).toStrictEqual(["g-1", "g-2"])
      // Keys came from the tenant's discovery document, fetched on first use.
      expect(ms.server.requests.discovery).toBe(1)
      expect(ms.server.requests.jwks).toBe(1)
    })
  )

  it.scopedLive("accepts v1 tokens (issuer https://sts.windows.net/{tid}/) with an application id URI audience", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft({ discoveryTenant: tenantA })
      const auth = yield* entra({ tenant: tenantA, audience: [clientId, appIdUri], authority: ms.authority })
      const principal = yield* bearer(auth, yield* ms.token({ tid: tenantA, version: "1.0", aud: appIdUri }))
      expect(principal.claims.iss).toBe(v1(tenantA))
      expect(principal.id).toBe(userOid)
      // The GUID audience works alongside the URI.
      const v2 = yield* bearer(auth, yield* ms.token({ tid: tenantA, aud: clientId }))
      expect(v2.claims.aud).toBe(clientId)
    })
  )

  it.scopedLive("versions restricts the accepted issuer shapes", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft({ discoveryTenant: tenantA })
      const v2Only = yield* entra({ tenant: tenantA, audience: clientId, authority: ms.authority, versions: ["2.0"] })
      const v1Token = yield* ms.token({ tid: tenantA, version: "1.0" })
      expect(yield* refusal(v2Only, v1Token)).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
      yield* bearer(v2Only, yield* ms.token({ tid: tenantA }))

      const v1Only = yield* entra({ tenant: tenantA, audience: clientId, authority: ms.authority, versions: ["1.0"] })
      yield* bearer(v1Only, v1Token)
      const v2Refusal = yield* refusal(v1Only, yield* ms.token({ tid: tenantA }))
      expect(v2Refusal).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
    })
  )

  it.scopedLive("issuers of the right shape but another spelling are not Microsoft's", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft({ discoveryTenant: tenantA })
      const auth = yield* entra({ tenant: tenantA, audience: clientId, authority: ms.authority })
      for (const iss of [
        `${ms.v2(tenantA)}/`,
        ms.v2(tenantA.toUpperCase()),
        `${ms.authority}/${tenantA}`,
        `https://sts.windows.net/${tenantA}`,
        `http://sts.windows.net/${tenantA}/`,
        `https://login.microsoftonline.com/${tenantA}/v2.0`
      ]) {
        const error = yield* refusal(auth, yield* ms.token({ tid: tenantA, iss }))
        expect(error, iss).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
      }
    })
  )
})

describe("EntraId tenants", () => {
  it.scopedLive("a single tenant refuses other tenants' tokens", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft({ discoveryTenant: tenantA })
      const auth = yield* entra({ tenant: tenantA, audience: clientId, authority: ms.authority })
      for (const version of ["1.0", "2.0"] as const) {
        const error = yield* refusal(auth, yield* ms.token({ tid: tenantB, version }))
        expect(error).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
      }
    })
  )

  it.scopedLive("a list of tenants accepts each of them and no other (keys from the common document)", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra({
        tenant: [tenantA, tenantB.toUpperCase()],
        audience: clientId,
        authority: ms.authority
      })
      const a = yield* bearer(auth, yield* ms.token({ tid: tenantA }))
      const b = yield* bearer(auth, yield* ms.token({ tid: tenantB, version: "1.0" }))
      expect([a.claims.tid, b.claims.tid]).toStrictEqual([tenantA, tenantB])
      const error = yield* refusal(auth, yield* ms.token({ tid: tenantC }))
      expect(error).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
    })
  )

  it.scopedLive('"common" accepts any tenant, personal Microsoft accounts included', () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      for (const tid of [tenantA, tenantC, EntraId.consumerTenant]) {
        const principal = yield* bearer(auth, yield* ms.token({ tid }))
        expect(principal.claims.tid).toBe(tid)
      }
    })
  )

  it.scopedLive('"organizations" refuses the consumer tenant', () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra({ tenant: "organizations", audience: clientId, authority: ms.authority })
      yield* bearer(auth, yield* ms.token({ tid: tenantC }))
      for (const version of ["1.0", "2.0"] as const) {
        const error = yield* refusal(auth, yield* ms.token({ tid: EntraId.consumerTenant, version }))
        expect(error).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
      }
    })
  )

  it.scopedLive("allowedTenants narrows a multi-tenant configuration", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra({
        tenant: "organizations",
        allowedTenants: [tenantA, tenantB],
        audience: clientId,
        authority: ms.authority
      })
      yield* bearer(auth, yield* ms.token({ tid: tenantB }))
      const error = yield* refusal(auth, yield* ms.token({ tid: tenantC }))
      expect(error).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
    })
  )

  it.scopedLive("the issuer must name the token's own tenant (tid)", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      for (const version of ["1.0", "2.0"] as const) {
        const iss = version === "1.0" ? v1(tenantA) : ms.v2(tenantA)
        const error = yield* refusal(auth, yield* ms.token({ tid: tenantB, version, iss }))
        expect(error).toMatchObject({ _tag: "InvalidToken", reason: "wrong-issuer" })
      }
      const missing = yield* refusal(auth, yield* ms.token({ tid: undefined }))
      expect(missing).toMatchObject({ _tag: "InvalidToken", reason: "missing-claim" })
      for (const tid of [tenantA.toUpperCase(), "contoso.com", 42]) {
        const odd = yield* refusal(auth, yield* ms.token({ tid: tenantA, claims: { tid } }))
        expect(odd).toMatchObject({ _tag: "InvalidToken", reason: "invalid-claim" })
      }
    })
  )

  it.scopedLive("a single-tenant issuer refuses a token whose iss is its tenant but whose tid is not", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft({ discoveryTenant: tenantA })
      const auth = yield* entra({ tenant: tenantA, audience: clientId, authority: ms.authority })
      const error = yield* refusal(auth, yield* ms.token({ tid: tenantB, iss: ms.v2(tenantA) }))
      expect(error).toMatchObject({ _tag: "InvalidToken", reason: "wrong-issuer" })
    })
  )
})

describe("EntraId signing keys", () => {
  it.scopedLive("a key whose JWK issuer names another tenant cannot sign for this one", () =>
    Effect.gen(function* () {
      const bound = yield* Effect.promise(() => Keys.generate("RS256", { kid: "bound-to-b" }))
      const ms = yield* microsoft({
        keyIssuer: (key, authority) =>
          key.kid === bound.kid ? `${authority}/${tenantB}/v2.0` : `${authority}/{tenantid}/v2.0`
      })
      ms.server.addKey(bound)
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      for (const version of ["1.0", "2.0"] as const) {
        const error = yield* refusal(auth, yield* ms.token({ tid: tenantA, version, key: bound }))
        expect(error).toMatchObject({ _tag: "InvalidToken", reason: "bad-signature" })
        // The same key signs for its own tenant (v1 tokens too: the JWK names the tenant's v2 issuer),
        // and the shared (template) key for anyone.
        yield* bearer(auth, yield* ms.token({ tid: tenantB, version, key: bound }))
        yield* bearer(auth, yield* ms.token({ tid: tenantA, version }))
      }
    })
  )

  it.scopedLive("Microsoft's {tenantid} template, filled in with tid, signs for any tenant's v1 and v2 tokens", () =>
    Effect.gen(function* () {
      // Microsoft's shared keys carry `{authority}/{tenantid}/v2.0`, as login.microsoftonline.com publishes
      // `https://login.microsoftonline.com/{tenantid}/v2.0`.
      const template = (_key: Keys.SigningKey, authority: string) => `${authority}/{tenantid}/v2.0`
      const ms = yield* microsoft({ keyIssuer: template })
      const common = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      const tenantOnly = yield* microsoft({ keyIssuer: template, discoveryTenant: tenantC })
      const single = yield* entra({ tenant: tenantC, audience: clientId, authority: tenantOnly.authority })
      for (const version of ["1.0", "2.0"] as const) {
        for (const tid of [tenantA, tenantB]) {
          const principal = yield* bearer(common, yield* ms.token({ tid, version }))
          expect(principal.claims.tid).toBe(tid)
        }
        yield* bearer(single, yield* tenantOnly.token({ tid: tenantC, version }))
      }
    })
  )

  it.scopedLive("a {tenantid} template that, filled in, is not the token's issuer cannot sign", () =>
    Effect.gen(function* () {
      const templates = ["evil-host", "https-twin", "no-version", "doubled", "v1-shape"] as const
      const keys = yield* Effect.forEach(templates, (kid) => Effect.promise(() => Keys.generate("RS256", { kid })))
      const templateOf = (kid: string | undefined, authority: string): string => {
        switch (kid) {
          case "evil-host":
            return "https://evil.example/{tenantid}/v2.0"
          case "https-twin":
            return `${authority.replace(/^http:/, "https:")}/{tenantid}/v2.0`
          case "no-version":
            return `${authority}/{tenantid}`
          case "doubled":
            return `${authority}/{tenantid}/{tenantid}/v2.0`
          case "v1-shape":
            return "https://sts.windows.net/{tenantid}/"
          default:
            return `${authority}/{tenantid}/v2.0`
        }
      }
      const ms = yield* microsoft({ keyIssuer: (key, authority) => templateOf(key.kid, authority) })
      for (const key of keys) ms.server.addKey(key)
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      for (const key of keys) {
        for (const version of ["1.0", "2.0"] as const) {
          // Microsoft's rule: substitute, then compare with `iss`. A v1-shaped template is the issuer of v1
          // tokens, so it may sign those, and nothing else.
          if (key.kid === "v1-shape" && version === "1.0") {
            yield* bearer(auth, yield* ms.token({ tid: tenantA, version, key }))
            continue
          }
          const error = yield* refusal(auth, yield* ms.token({ tid: tenantA, version, key }))
          expect(error, `${key.kid} ${version}`).toMatchObject({ _tag: "InvalidToken", reason: "bad-signature" })
        }
      }
      // The shared key, with Microsoft's template, still signs for the same tenant.
      yield* bearer(auth, yield* ms.token({ tid: tenantA }))
    })
  )

  it.scopedLive("a concrete issuer of another tenant cannot sign, in either shape", () =>
    Effect.gen(function* () {
      const v2Bound = yield* Effect.promise(() => Keys.generate("RS256", { kid: "v2-bound-to-b" }))
      const v1Bound = yield* Effect.promise(() => Keys.generate("RS256", { kid: "v1-bound-to-b" }))
      const ms = yield* microsoft({
        keyIssuer: (key, authority) =>
          key.kid === v2Bound.kid
            ? `${authority}/${tenantB}/v2.0`
            : key.kid === v1Bound.kid
              ? v1(tenantB)
              : `${authority}/{tenantid}/v2.0`
      })
      ms.server.addKey(v2Bound)
      ms.server.addKey(v1Bound)
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      for (const key of [v2Bound, v1Bound]) {
        for (const version of ["1.0", "2.0"] as const) {
          const error = yield* refusal(auth, yield* ms.token({ tid: tenantA, version, key }))
          expect(error, `${key.kid} ${version}`).toMatchObject({ _tag: "InvalidToken", reason: "bad-signature" })
        }
      }
      // A v1-shaped bound issuer is the issuer of its tenant's v1 tokens only.
      yield* bearer(auth, yield* ms.token({ tid: tenantB, version: "1.0", key: v1Bound }))
      const v2Error = yield* refusal(auth, yield* ms.token({ tid: tenantB, version: "2.0", key: v1Bound }))
      expect(v2Error).toMatchObject({ _tag: "InvalidToken", reason: "bad-signature" })
    })
  )

  it.scopedLive("keys without an issuer member are Microsoft's shared keys", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft({ keyIssuer: () => undefined })
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      yield* bearer(auth, yield* ms.token({ tid: tenantA }))
    })
  )

  it.scopedLive("tokens signed with another algorithm than RS256 are refused", () =>
    Effect.gen(function* () {
      const es = yield* Effect.promise(() => Keys.generate("ES256", { kid: "ec" }))
      const ms = yield* microsoft()
      ms.server.addKey(es)
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      const error = yield* refusal(auth, yield* ms.token({ tid: tenantA, key: es }))
      expect(error).toMatchObject({ _tag: "InvalidToken", reason: "unsupported-algorithm" })
    })
  )
})

describe("EntraId audiences", () => {
  it.scopedLive("aud must be one of the configured audiences", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra({ tenant: "common", audience: [clientId, appIdUri], authority: ms.authority })
      yield* bearer(auth, yield* ms.token({ tid: tenantA, aud: clientId }))
      yield* bearer(auth, yield* ms.token({ tid: tenantA, aud: appIdUri }))
      const error = yield* refusal(auth, yield* ms.token({ tid: tenantA, aud: "api://someone-else" }))
      expect(error).toMatchObject({ _tag: "InvalidToken", reason: "wrong-audience" })
    })
  )

  it.scopedLive("Microsoft Graph tokens are refused, even alongside a configured audience", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      for (const aud of [
        graphAppId,
        "https://graph.microsoft.com",
        "https://graph.microsoft.com/",
        [clientId, graphAppId],
        [clientId, "https://graph.microsoft.com/"]
      ]) {
        const error = yield* refusal(auth, yield* ms.token({ tid: tenantA, aud }))
        expect(error, JSON.stringify(aud)).toMatchObject({ _tag: "InvalidToken", reason: "wrong-audience" })
      }
    })
  )
})

describe("EntraId identities", () => {
  it.scopedLive("an app-only token (idtyp app) is a machine with its app roles", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      const token = yield* ms.token({
        tid: tenantA,
        claims: {
          idtyp: "app",
          oid: appOid,
          sub: appOid,
          azp: "22222222-0000-4000-8000-000000000002",
          roles: ["Orders.ReadWrite.All"],
          scp: undefined,
          name: undefined,
          preferred_username: undefined
        }
      })
      const principal = yield* bearer(auth, token)
      expect(principal).toMatchObject({ id: appOid, kind: "machine", provider: "entra" })
      expect(principal.email).toBeUndefined()
      expect(yield* principal.roles).toStrictEqual(["Orders.ReadWrite.All"])
      expect(yield* principal.permissions).toStrictEqual([])
    })
  )

  it.scopedLive("without idtyp: no scp and oid === sub is an app; a user's pairwise sub is not", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      const app = yield* bearer(
        auth,
        yield* ms.token({ tid: tenantA, claims: { oid: appOid, sub: appOid, scp: undefined, roles: ["Jobs.Run"] } })
      )
      expect(app.kind).toBe("machine")
      expect(yield* app.roles).toStrictEqual(["Jobs.Run"])
      // A user token without scp (an ID token, say) still reads as a user: its sub is not its oid.
      const user = yield* bearer(auth, yield* ms.token({ tid: tenantA, claims: { scp: undefined } }))
      expect(user.kind).toBe("user")
      // idtyp decides when present.
      const said = yield* bearer(
        auth,
        yield* ms.token({ tid: tenantA, claims: { idtyp: "user", oid: appOid, sub: appOid, scp: undefined } })
      )
      expect(said.kind).toBe("user")
    })
  )

  it.scopedLive("id is oid, else sub; email falls back to an email-like preferred_username or upn", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      const noOid = yield* bearer(auth, yield* ms.token({ tid: tenantA, claims: { oid: undefined } }))
      expect(noOid.id).toBe("pairwise-subject-of-alice")

      const withEmail = yield* bearer(auth, yield* ms.token({ tid: tenantA, claims: { email: "a@example.org" } }))
      expect(withEmail.email).toBe("a@example.org")

      const upn = yield* bearer(
        auth,
        yield* ms.token({ tid: tenantA, claims: { preferred_username: "alice", upn: "alice@contoso.com" } })
      )
      expect(upn.email).toBe("alice@contoso.com")

      const guest = yield* bearer(
        auth,
        yield* ms.token({
          tid: tenantA,
          claims: { preferred_username: undefined, upn: "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com" }
        })
      )
      expect(guest.email).toBeUndefined()

      const badOid = yield* refusal(auth, yield* ms.token({ tid: tenantA, claims: { oid: 7 } }))
      expect(badOid).toMatchObject({ _tag: "InvalidToken", reason: "invalid-claim" })
    })
  )
})

describe("EntraId groups overage", () => {
  const overage = {
    _claim_names: { groups: "src1" },
    _claim_sources: { src1: { endpoint: `https://graph.microsoft.com/v1.0/users/${userOid}/getMemberObjects` } }
  }

  it.scopedLive("groups fail with IncompleteGrants, never an empty list, and guards do not turn it into 403", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      for (const claims of [overage, { hasgroups: true }]) {
        const principal = yield* bearer(auth, yield* ms.token({ tid: tenantA, claims }))
        expect(principal.grants?.incomplete).toStrictEqual(["groups"])
        const error = yield* Effect.flip(principal.groups)
        expect(error).toMatchObject({ _tag: "IncompleteGrants", grant: "groups", provider: "entra" })
        const guard = yield* Effect.flip(
          Guard.requireGroups(["admins"]).pipe(Effect.provideService(Authenticated.Authenticated, principal))
        )
        expect(guard._tag).toBe("IncompleteGrants")
        // The rest still works, and the pointer is kept for a lookup to follow.
        expect(yield* principal.permissions).toStrictEqual(["Orders.Read", "Orders.Write"])
        for (const [name, value] of Object.entries(claims)) expect(principal.claims[name]).toStrictEqual(value)
      }
    })
  )

  it.scopedLive("a groups claim wins over an overage pointer", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      const principal = yield* bearer(auth, yield* ms.token({ tid: tenantA, claims: { ...overage, groups: ["g"] } }))
      expect(yield* principal.groups).toStrictEqual(["g"])
    })
  )

  it.scopedLive("a configured GroupsProvider answers for overage tokens", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const auth = yield* entra(
        { tenant: "common", audience: clientId, authority: ms.authority },
        GroupsProvider.layerStatic({ [userOid]: ["admins"] })
      )
      const principal = yield* bearer(auth, yield* ms.token({ tid: tenantA, claims: overage }))
      const allowed = yield* Guard.requireGroups(["admins"]).pipe(
        Effect.provideService(Authenticated.Authenticated, principal)
      )
      expect(allowed.id).toBe(userOid)
    })
  )
})

describe("EntraId discovery", () => {
  it.scopedLive("an authority that is down at start-up: the layer builds, requests get ProviderUnavailable", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      ms.server.setFault({ _tag: "Down" })
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.authority })
      expect(ms.server.requests.discovery).toBe(0)
      const token = yield* ms.token({ tid: tenantA })
      const error = yield* refusal(auth, token)
      expect(error).toMatchObject({ _tag: "ProviderUnavailable", reason: "unreachable", provider: "entra" })

      // Once it is back (after the cache's one-second backoff), the same token is accepted.
      ms.server.setFault({ _tag: "None" })
      yield* Effect.sleep("1100 millis")
      // Retried a little: a loaded machine may be slow to answer the first attempt after the backoff.
      const principal = yield* bearer(auth, token).pipe(
        Effect.retry({ times: 5, schedule: Schedule.spaced("500 millis") })
      )
      expect(principal.id).toBe(userOid)
    })
  )

  it.scopedLive("a discovery document for another issuer is a misconfiguration (503), not a 401", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft({ discoveryTenant: tenantB })
      const auth = yield* entra({ tenant: tenantA, audience: clientId, authority: ms.authority })
      const error = yield* refusal(auth, yield* ms.token({ tid: tenantA }))
      expect(error).toMatchObject({ _tag: "ProviderUnavailable", reason: "misconfigured", provider: "entra" })
      expect(ms.server.requests.jwks).toBe(0)
    })
  )

  it.scopedLive("keys are only fetched from the authority's origin", () =>
    Effect.gen(function* () {
      const elsewhere = yield* Issuer.scoped()
      const ms = yield* Issuer.scoped({
        metadata: (baseUrl) => ({ issuer: `${baseUrl}/{tenantid}/v2.0`, jwks_uri: elsewhere.jwksUrl })
      })
      const auth = yield* entra({ tenant: "common", audience: clientId, authority: ms.baseUrl })
      const token = yield* Effect.promise(() =>
        elsewhere.mint({ iss: `${ms.baseUrl}/${tenantA}/v2.0`, tid: tenantA }, { audience: clientId })
      )
      const error = yield* refusal(auth, token)
      expect(error).toMatchObject({ _tag: "ProviderUnavailable", reason: "bad-response", provider: "entra" })
      expect(elsewhere.requests.jwks).toBe(0)
    })
  )

  it.scopedLive("accepts is decided from the unverified iss without any I/O", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const issuer = yield* withClient(EntraId.issuer({ tenant: tenantA, audience: clientId, authority: ms.authority }))
      expect(issuer.name).toBe("entra")
      expect(issuer.accepts(ms.v2(tenantA))).toBe(true)
      expect(issuer.accepts(v1(tenantA))).toBe(true)
      expect(issuer.accepts(ms.v2(tenantB))).toBe(false)
      expect(issuer.accepts(`${ms.authority}/common/v2.0`)).toBe(false)

      const common = yield* withClient(
        EntraId.issuer({ tenant: "common", audience: clientId, authority: ms.authority })
      )
      expect(common.accepts(ms.v2(tenantC))).toBe(true)
      expect(common.accepts(v1(tenantC))).toBe(true)
      for (const iss of [
        `${ms.authority}/common/v2.0`,
        `${ms.authority}/{tenantid}/v2.0`,
        ms.v2(tenantC.toUpperCase()),
        `${ms.authority}/${tenantA}/${tenantC}/v2.0`,
        `${ms.authority}/${tenantC}/v2.0/`,
        `${ms.authority}/${tenantC}`,
        v1("common"),
        `https://sts.windows.net/${tenantC}/x/`,
        `https://sts.windows.net.evil.example/${tenantC}/`
      ]) {
        expect(common.accepts(iss), iss).toBe(false)
      }
      expect(ms.server.requests).toStrictEqual({ jwks: 0, discovery: 0 })
    })
  )
})

const buildError = (options: EntraId.Options) =>
  Effect.flip(withClient(EntraId.issuer(options))).pipe(
    Effect.map((error) => {
      expect(ConfigError.isConfigError(error)).toBe(true)
      return error
    })
  )

describe("EntraId configuration", () => {
  it.scoped("refuses misconfiguration when the issuer is built", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [EntraId.Options, string]> = [
        [{ tenant: "contoso.onmicrosoft.com", audience: clientId }, "not a tenant id"],
        [{ tenant: [tenantA, "contoso.com"], audience: clientId }, "entry 2 is not a tenant id"],
        [{ tenant: [], audience: clientId }, "tenant is empty"],
        [{ tenant: [tenantA, "common"], audience: clientId }, "stand alone"],
        [{ tenant: "consumers", audience: clientId }, "consumer tenant id"],
        [{ tenant: tenantA, allowedTenants: [tenantB], audience: clientId }, "only narrows"],
        [{ tenant: "organizations", allowedTenants: [EntraId.consumerTenant], audience: clientId }, "excludes"],
        [{ tenant: "common", allowedTenants: [], audience: clientId }, "allowedTenants is empty"],
        [{ tenant: tenantA, audience: [] }, "audience is empty"],
        [{ tenant: tenantA, audience: "" }, "empty or has spaces"],
        [{ tenant: tenantA, audience: graphAppId }, "Microsoft Graph"],
        [{ tenant: tenantA, audience: [clientId, "https://graph.microsoft.com/"] }, "entry 2 is Microsoft Graph"],
        [{ tenant: tenantA, audience: "HTTPS://GRAPH.MICROSOFT.COM" }, "Microsoft Graph"],
        [{ tenant: tenantA, audience: clientId, authority: "http://login.example.com" }, "https"],
        [{ tenant: tenantA, audience: clientId, authority: "login.microsoftonline.com" }, "absolute URL"],
        [{ tenant: tenantA, audience: clientId, authority: "https://u:p@login.example.com" }, "credentials"],
        [
          { tenant: tenantA, audience: clientId, authority: `https://login.microsoftonline.com/${tenantA}` },
          "host only"
        ],
        [
          { tenant: tenantA, audience: clientId, authority: "https://login.microsoftonline.com/common/v2.0" },
          "host only"
        ],
        [{ tenant: tenantA, audience: clientId, versions: [] }, "versions is empty"]
      ]
      for (const [options, message] of cases) {
        const error = yield* buildError(options)
        expect(String(error), JSON.stringify(options)).toContain(message)
      }
    })
  )

  it.effect("issuerConfig reads AUTH_ENTRA_TENANT_ID, AUTH_ENTRA_AUDIENCE and AUTH_ENTRA_AUTHORITY", () =>
    Effect.gen(function* () {
      const read = (env: Record<string, string>) =>
        EntraId.issuerConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
      expect(
        yield* read({ AUTH_ENTRA_TENANT_ID: tenantA, AUTH_ENTRA_AUDIENCE: `${clientId}, ${appIdUri}` })
      ).toStrictEqual({ tenant: tenantA, audience: [clientId, appIdUri], authority: undefined })
      expect(
        yield* read({
          AUTH_ENTRA_TENANT_ID: `${tenantA},${tenantB}`,
          AUTH_ENTRA_AUDIENCE: clientId,
          AUTH_ENTRA_AUTHORITY: "https://login.microsoftonline.us"
        })
      ).toStrictEqual({
        tenant: [tenantA, tenantB],
        audience: [clientId],
        authority: "https://login.microsoftonline.us"
      })
      expect(yield* read({ AUTH_ENTRA_TENANT_ID: "organizations", AUTH_ENTRA_AUDIENCE: clientId })).toMatchObject({
        tenant: "organizations"
      })

      const failures: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [{ AUTH_ENTRA_AUDIENCE: clientId }, "AUTH_ENTRA_TENANT_ID"],
        [{ AUTH_ENTRA_TENANT_ID: "contoso.com", AUTH_ENTRA_AUDIENCE: clientId }, "AUTH_ENTRA_TENANT_ID"],
        [{ AUTH_ENTRA_TENANT_ID: `common,${tenantA}`, AUTH_ENTRA_AUDIENCE: clientId }, "AUTH_ENTRA_TENANT_ID"],
        [{ AUTH_ENTRA_TENANT_ID: tenantA }, "AUTH_ENTRA_AUDIENCE"],
        [{ AUTH_ENTRA_TENANT_ID: tenantA, AUTH_ENTRA_AUDIENCE: "" }, "AUTH_ENTRA_AUDIENCE"],
        [{ AUTH_ENTRA_TENANT_ID: tenantA, AUTH_ENTRA_AUDIENCE: graphAppId }, "AUTH_ENTRA_AUDIENCE"],
        [
          { AUTH_ENTRA_TENANT_ID: tenantA, AUTH_ENTRA_AUDIENCE: clientId, AUTH_ENTRA_AUTHORITY: "ftp://x" },
          "AUTH_ENTRA_AUTHORITY"
        ]
      ]
      for (const [env, variable] of failures) {
        const error = yield* Effect.flip(read(env))
        expect(ConfigError.isConfigError(error)).toBe(true)
        expect(String(error), JSON.stringify(env)).toContain(variable)
      }
    })
  )

  it.scopedLive("issuerFromConfig builds a working issuer from the environment", () =>
    Effect.gen(function* () {
      const ms = yield* microsoft()
      const env = ConfigProvider.fromMap(
        new Map([
          ["AUTH_ENTRA_TENANT_ID", `${tenantA},${tenantB}`],
          ["AUTH_ENTRA_AUDIENCE", `${clientId},${appIdUri}`],
          ["AUTH_ENTRA_AUTHORITY", `${ms.authority}/`],
          ["JWKS_CACHE_INTERVAL", "5"]
        ])
      )
      const auth = yield* authenticator(
        EntraId.issuerFromConfig().pipe(
          Effect.map((issuer) => JwtProvider.make([issuer])),
          Effect.withConfigProvider(env)
        )
      )
      const principal = yield* bearer(auth, yield* ms.token({ tid: tenantB, aud: appIdUri }))
      expect(principal.provider).toBe("entra")
      const error = yield* refusal(auth, yield* ms.token({ tid: tenantC }))
      expect(error).toMatchObject({ _tag: "InvalidToken", reason: "unknown-issuer" })
    })
  )
})

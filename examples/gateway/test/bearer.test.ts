/**
 * Black-box tests of the gateway's bearer tokens: the built `dist/main.js` configured with a generic
 * OIDC issuer, a Cognito user pool or Entra ID, each played by the test kit's issuer on 127.0.0.1 (or by
 * a real `oidc-provider`), and demo mode's dev issuer.
 */
import { PasswordHasher } from "@effect-auth/core"
import { Issuer, Keys } from "@effect-auth/testing"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { Buffer } from "node:buffer"
import { execFile } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { promisify } from "node:util"
import type { Gateway } from "./helpers.js"
import { cleanup, eventually, get, listeningLine, runToExit, startGateway, tempDir, waitForOutput } from "./helpers.js"
import * as OidcProvider from "./oidcProvider.js"

afterEach(cleanup)

const issuers: Array<Issuer.Issuer> = []
afterEach(async () => {
  await Promise.all(issuers.splice(0).map((issuer) => issuer.close()))
})

const startIssuer = async (options?: Issuer.IssuerOptions) => {
  const issuer = await Issuer.start(options)
  issuers.push(issuer)
  return issuer
}

const routes = [
  { path: "/admin/*", require: { groups: ["admin"] } },
  { path: "/orders/*", require: { permissions: ["orders:write"] } },
  { path: "/billing/*", require: { roles: ["billing"] } }
]

/** Starts the gateway with the route table above and `env`. */
const startWith = async (env: Record<string, string>) => {
  const dir = await tempDir()
  await Fs.writeFile(Path.join(dir, "routes.json"), JSON.stringify(routes))
  return startGateway({ AUTH_ROUTES_FILE: "routes.json", ...env }, dir)
}

const withToken = (url: string, token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } })

const whoami = async (gateway: Gateway, token: string) => {
  const response = await withToken(`${gateway.url}/whoami`, token)
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

/** A 401 for a token: the Bearer challenge says invalid_token, and the body never echoes the token. */
const expectInvalidToken = async (gateway: Gateway, token: string, reason: string) => {
  const response = await withToken(`${gateway.url}/whoami`, token)
  const body = await response.text()
  expect({ status: response.status, reason: JSON.parse(body).reason }).toEqual({ status: 401, reason })
  expect(response.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/)
  expect(body).not.toContain(token.split(".")[2])
}

// ---------------------------------------------------------------------------------------------------

describe("AUTH_JWT_ISSUER: a generic OIDC issuer", () => {
  it.each([
    ["discovery", (kit: Issuer.Issuer) => ({ AUTH_JWT_ISSUER: kit.issuer })],
    ["an explicit JWKS URL", (kit: Issuer.Issuer) => ({ AUTH_JWT_ISSUER: kit.issuer, AUTH_JWT_JWKS_URL: kit.jwksUrl })]
  ])("with %s: a valid token is 200 and /whoami shows its groups, roles and permissions", async (how, env) => {
    const kit = await startIssuer({ issuerPath: "/realms/main" })
    const gateway = await startWith({ ...env(kit), AUTH_JWT_AUDIENCE: "orders-api" })
    expect(gateway.output()).not.toContain("DEMO MODE")
    const token = await kit.mint(
      {
        name: "Ada Lovelace",
        email: "ada@example.com",
        groups: ["admin", "staff"],
        roles: ["billing"],
        scope: "orders:read orders:write"
      },
      { subject: "ada", audience: "orders-api" }
    )
    expect(await whoami(gateway, token)).toStrictEqual({
      status: 200,
      body: {
        id: "ada",
        kind: "user",
        provider: "jwt",
        name: "Ada Lovelace",
        email: "ada@example.com",
        groups: ["admin", "staff"],
        roles: ["billing"],
        permissions: ["orders:read", "orders:write"]
      }
    })
    expect(kit.requests).toEqual(how === "discovery" ? { discovery: 1, jwks: 1 } : { discovery: 0, jwks: 1 })

    // The route table applies to the token's grants.
    for (const path of ["/admin/x", "/orders/1", "/billing/x"]) {
      expect({ path, status: (await withToken(`${gateway.url}${path}`, token)).status }).toEqual({ path, status: 200 })
    }
    const reader = await kit.mint({ scope: "orders:read" }, { subject: "ben", audience: "orders-api" })
    const refused = await withToken(`${gateway.url}/orders/1`, reader)
    expect(refused.status).toBe(403)
    expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer error="insufficient_scope"/)
    expect((await withToken(`${gateway.url}/admin/x`, reader)).status).toBe(403)
  })

  it("refuses expired, wrong-audience, unknown-issuer and tampered tokens with 401 invalid_token", async () => {
    const kit = await startIssuer()
    const stranger = await startIssuer()
    const gateway = await startWith({ AUTH_JWT_ISSUER: kit.issuer, AUTH_JWT_AUDIENCE: "orders-api" })
    const options = { subject: "ada", audience: "orders-api" }

    await expectInvalidToken(gateway, await kit.mint({}, { ...options, expiresIn: -120 }), "expired")
    await expectInvalidToken(gateway, await kit.mint({}, { ...options, audience: "another-api" }), "wrong-audience")
    const before = stranger.requests
    await expectInvalidToken(gateway, await stranger.mint({}, options), "unknown-issuer")
    expect(stranger.requests).toEqual(before)
    const [header, payload, signature] = (await kit.mint({ groups: ["staff"] }, options)).split(".")
    const escalated = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload!, "base64url").toString()), groups: ["admin"] })
    ).toString("base64url")
    await expectInvalidToken(gateway, `${header}.${escalated}.${signature}`, "bad-signature")
    const otherKey = await Keys.generate("RS256", { kid: kit.currentKey.kid })
    await expectInvalidToken(gateway, await kit.mint({}, { ...options, key: otherKey }), "bad-signature")

    // Without credentials: a plain Bearer challenge.
    const anonymous = await fetch(`${gateway.url}/whoami`)
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers.get("www-authenticate")).toBe("Bearer")
  })

  it("tells a client-credentials token (a machine) from a user's", async () => {
    const kit = await startIssuer()
    const gateway = await startWith({ AUTH_JWT_ISSUER: kit.issuer, AUTH_JWT_AUDIENCE: "orders-api" })
    const machine = await kit.mint(
      { client_id: "billing-job", scope: "orders:write" },
      {
        subject: "billing-job",
        audience: "orders-api"
      }
    )
    expect((await whoami(gateway, machine)).body).toMatchObject({ id: "billing-job", kind: "machine" })
    expect((await withToken(`${gateway.url}/orders/1`, machine)).status).toBe(200)
  })

  it("starts while the issuer is down, answers 503 (not 401, not a hang) until it is back", async () => {
    const kit = await startIssuer()
    kit.setFault({ _tag: "Down" })
    const gateway = await startWith({ AUTH_JWT_ISSUER: kit.issuer, AUTH_JWT_AUDIENCE: "orders-api" })
    const token = await kit.mint({}, { subject: "ada", audience: "orders-api" })

    const started = Date.now()
    const response = await withToken(`${gateway.url}/whoami`, token)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(response.status).toBe(503)
    expect(response.headers.get("retry-after")).not.toBeNull()
    const body = await response.text()
    expect(JSON.parse(body)).toMatchObject({ status: 503, code: "provider_unavailable" })
    expect(body).not.toContain(token.split(".")[2])
    // A token of an issuer that is not configured is still a 401: it never needed the keys.
    const stranger = await startIssuer()
    await expectInvalidToken(gateway, await stranger.mint({}, { audience: "orders-api" }), "unknown-issuer")

    kit.setFault({ _tag: "None" })
    await eventually(async () => expect((await whoami(gateway, token)).status).toBe(200))

    // Once keys were fetched, they keep serving while the issuer is down again (stale while error).
    kit.setFault({ _tag: "Down" })
    const jwksRequests = kit.requests.jwks
    expect((await whoami(gateway, token)).status).toBe(200)
    expect((await whoami(gateway, await kit.mint({}, { subject: "ben", audience: "orders-api" }))).body).toMatchObject({
      id: "ben"
    })
    expect(kit.requests.jwks).toBe(jwksRequests)
  })

  it("answers 503 when only the JWKS endpoint is down (explicit JWKS URL), 200 when it is back", async () => {
    const kit = await startIssuer()
    const gateway = await startWith({
      AUTH_JWT_ISSUER: kit.issuer,
      AUTH_JWT_JWKS_URL: kit.jwksUrl,
      AUTH_JWT_AUDIENCE: "orders-api"
    })
    const token = await kit.mint({}, { subject: "ada", audience: "orders-api" })
    for (const fault of [{ _tag: "Down" }, { _tag: "Status", status: 500 }, { _tag: "Html" }] as const) {
      kit.setFault(fault, "jwks")
      await eventually(async () =>
        expect({ fault, status: (await whoami(gateway, token)).status }).toEqual({ fault, status: 503 })
      )
    }
    kit.setFault({ _tag: "None" })
    await eventually(async () => expect((await whoami(gateway, token)).status).toBe(200))
  })

  it("AUTH_JWT_ALGORITHMS restricts the accepted algorithms", async () => {
    const kit = await startIssuer({ algorithm: "ES256" })
    const gateway = await startWith({
      AUTH_JWT_ISSUER: kit.issuer,
      AUTH_JWT_AUDIENCE: "orders-api",
      AUTH_JWT_ALGORITHMS: "ES256"
    })
    expect((await whoami(gateway, await kit.mint({}, { audience: "orders-api" }))).status).toBe(200)
    const rsa = await Keys.generate("RS256")
    kit.addKey(rsa)
    await expectInvalidToken(gateway, await kit.mint({}, { audience: "orders-api", key: rsa }), "unsupported-algorithm")
  })

  it("works beside Basic users: each credential goes to its own provider, and 401 offers both", async () => {
    const kit = await startIssuer()
    const dir = await tempDir()
    const password = "carol-Pw-4e1b9d27"
    const hash = await Effect.runPromise(
      Effect.provide(
        Effect.flatMap(PasswordHasher.PasswordHasher, (hasher) => hasher.hash(Redacted.make(password))),
        PasswordHasher.layer({ ln: 10 })
      )
    )
    await Fs.writeFile(Path.join(dir, "users.txt"), `carol:${hash}:auditor\n`)
    const gateway = await startGateway(
      { AUTH_JWT_ISSUER: kit.issuer, AUTH_JWT_AUDIENCE: "orders-api", AUTH_BASIC_USERS_FILE: "users.txt" },
      dir
    )
    const anonymous = await fetch(`${gateway.url}/whoami`)
    expect(anonymous.status).toBe(401)
    const challenge = anonymous.headers.get("www-authenticate") ?? ""
    expect(challenge).toMatch(/(^|, )Bearer(,|$)/)
    expect(challenge).toContain("Basic realm=")

    expect((await whoami(gateway, await kit.mint({}, { subject: "ada", audience: "orders-api" }))).body).toMatchObject({
      id: "ada",
      provider: "jwt"
    })
    const carol = await get(`${gateway.url}/whoami`, ["carol", password])
    expect(await carol.json()).toMatchObject({ id: "carol", provider: "basic", groups: ["auditor"] })
    expect((await get(`${gateway.url}/whoami`, ["carol", "wrong"])).status).toBe(401)
    // Not JWT-shaped: the JWT provider does not take it, and no other provider reads bearer tokens.
    const opaque = await fetch(`${gateway.url}/whoami`, { headers: { authorization: "Bearer an-opaque-token" } })
    expect(opaque.status).toBe(401)
  })

  it("warns when no audience is configured", async () => {
    const kit = await startIssuer()
    const gateway = await startWith({ AUTH_JWT_ISSUER: kit.issuer })
    expect(gateway.output()).toMatch(/no audience configured/)
    expect((await whoami(gateway, await kit.mint({}, { audience: "anything" }))).status).toBe(200)
  })
})

describe("start-up checks of the bearer providers", () => {
  it.each([
    [
      "AUTH_JWT_ALGORITHMS=HS256",
      { AUTH_JWT_ISSUER: "https://issuer.example.com", AUTH_JWT_ALGORITHMS: "HS256" },
      "AUTH_JWT_ALGORITHMS"
    ],
    [
      "AUTH_JWT_JWKS_URL without AUTH_JWT_ISSUER",
      { AUTH_JWT_JWKS_URL: "https://issuer.example.com/keys" },
      "AUTH_JWT_ISSUER"
    ],
    [
      "JWKS_CACHE_INTERVAL=soon",
      { AUTH_JWT_ISSUER: "https://issuer.example.com", JWKS_CACHE_INTERVAL: "soon" },
      "JWKS_CACHE_INTERVAL"
    ],
    [
      "a malformed user pool id",
      { AUTH_COGNITO_USER_POOL_ID: "not a pool", AUTH_COGNITO_CLIENT_IDS: "client-1" },
      "AUTH_COGNITO_USER_POOL_ID"
    ],
    ["no Cognito app client ids", { AUTH_COGNITO_USER_POOL_ID: "eu-central-1_AbC123xyz" }, "AUTH_COGNITO_CLIENT_IDS"],
    [
      "an Entra tenant given as a domain",
      { AUTH_ENTRA_TENANT_ID: "contoso.com", AUTH_ENTRA_AUDIENCE: "api://orders" },
      "AUTH_ENTRA_TENANT_ID"
    ],
    ["no Entra audience", { AUTH_ENTRA_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47" }, "AUTH_ENTRA_AUDIENCE"],
    [
      "a generic issuer without an audience in production",
      { AUTH_JWT_ISSUER: "https://issuer.example.com", NODE_ENV: "production" },
      "AUTH_JWT_AUDIENCE"
    ]
  ])("%s: exits non-zero, naming the variable", async (_name, env, variable) => {
    const { code, output } = await runToExit(env)
    expect(code).not.toBe("timeout")
    expect(code).not.toBe(0)
    expect(output).toContain("cannot start")
    expect(output).toContain(variable)
    expect(output).not.toMatch(listeningLine)
  })

  it("warns about bearer settings given without their provider", async () => {
    const kit = await startIssuer()
    const gateway = await startWith({
      AUTH_JWT_ISSUER: kit.issuer,
      AUTH_JWT_AUDIENCE: "api",
      AUTH_ENTRA_AUDIENCE: "api"
    })
    expect(gateway.output()).toMatch(/Set without the provider they belong to, ignored: AUTH_ENTRA_AUDIENCE/)
  })
})

// ---------------------------------------------------------------------------------------------------

describe("AUTH_COGNITO_*: a Cognito user pool (the test kit standing in for AWS)", () => {
  const poolId = "eu-central-1_AbC123xyz"
  const clientId = "4r5t6y7u8i9o0p1a2s3d4f5g6h"

  const startPool = async (env: Record<string, string> = {}) => {
    // Cognito's issuer is `{endpoint}/{poolId}`, its keys at `{issuer}/.well-known/jwks.json`.
    const kit = await startIssuer({ issuerPath: `/${poolId}`, jwksPath: `/${poolId}/.well-known/jwks.json` })
    const gateway = await startWith({
      AUTH_COGNITO_USER_POOL_ID: poolId,
      AUTH_COGNITO_REGION: "eu-central-1",
      AUTH_COGNITO_CLIENT_IDS: `other-client, ${clientId}`,
      AUTH_COGNITO_ENDPOINT: kit.baseUrl,
      ...env
    })
    return { kit, gateway }
  }

  const idToken = (kit: Issuer.Issuer, claims: Record<string, unknown> = {}) =>
    kit.mint(
      {
        token_use: "id",
        "cognito:username": "ada",
        "cognito:groups": ["admin", "staff"],
        email: "ada@example.com",
        ...claims
      },
      { subject: "0b6e1f2c-ada", audience: clientId }
    )

  const accessToken = (kit: Issuer.Issuer, claims: Record<string, unknown> = {}) =>
    kit.mint(
      {
        token_use: "access",
        client_id: clientId,
        username: "ada",
        "cognito:groups": ["staff"],
        scope: "orders:read orders:write",
        aud: undefined,
        ...claims
      },
      { subject: "0b6e1f2c-ada" }
    )

  it("accepts id and access tokens of the pool's app clients, with groups and scopes", async () => {
    const { kit, gateway } = await startPool()
    expect(await whoami(gateway, await idToken(kit))).toStrictEqual({
      status: 200,
      body: {
        id: "0b6e1f2c-ada",
        kind: "user",
        provider: "cognito",
        name: "ada",
        email: "ada@example.com",
        groups: ["admin", "staff"],
        roles: [],
        permissions: []
      }
    })
    expect((await whoami(gateway, await accessToken(kit))).body).toMatchObject({
      id: "0b6e1f2c-ada",
      kind: "user",
      provider: "cognito",
      groups: ["staff"],
      permissions: ["orders:read", "orders:write"]
    })
    expect((await withToken(`${gateway.url}/admin/x`, await idToken(kit))).status).toBe(200)
    expect((await withToken(`${gateway.url}/admin/x`, await accessToken(kit))).status).toBe(403)
    expect((await withToken(`${gateway.url}/orders/1`, await accessToken(kit))).status).toBe(200)
    expect(kit.requests.discovery).toBe(0)

    // A machine-to-machine client: its own subject, no user name.
    const withoutUsername = await accessToken(kit, { username: undefined, "cognito:groups": undefined })
    const m2m = await kit.mint(
      { token_use: "access", client_id: clientId, scope: "orders:write" },
      { subject: clientId }
    )
    expect((await whoami(gateway, withoutUsername)).body).toMatchObject({ kind: "user" })
    expect((await whoami(gateway, m2m)).body).toMatchObject({
      id: clientId,
      kind: "machine",
      permissions: ["orders:write"]
    })
  })

  it("refuses tokens of other app clients, of the wrong use, and of other pools", async () => {
    const { kit, gateway } = await startPool({ AUTH_COGNITO_TOKEN_USE: "access" })
    expect((await whoami(gateway, await accessToken(kit))).status).toBe(200)
    await expectInvalidToken(gateway, await idToken(kit), "wrong-type")
    await expectInvalidToken(gateway, await accessToken(kit, { client_id: "a-stranger" }), "wrong-audience")
    await expectInvalidToken(gateway, await accessToken(kit, { token_use: undefined }), "missing-claim")
    await expectInvalidToken(
      gateway,
      await accessToken(kit, { iss: `${kit.baseUrl}/eu-central-1_Other1234` }),
      "unknown-issuer"
    )
    await expectInvalidToken(gateway, await accessToken(kit, { exp: undefined }), "missing-claim")
  })
})

// ---------------------------------------------------------------------------------------------------

describe("AUTH_ENTRA_*: Entra ID (the test kit standing in for login.microsoftonline.com)", () => {
  const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
  const apiClientId = "6e74172b-be56-4843-9ff4-e66a39bb12e3"

  const startEntra = async () => {
    // As Microsoft serves it: the v2 issuer `{authority}/{tenant}/v2.0` with discovery under it, and
    // JWKS entries that name the multi-tenant issuer template on the authority's host.
    let authority = ""
    const kit = await startIssuer({
      issuerPath: `/${tenant}/v2.0`,
      jwksPath: "/common/discovery/v2.0/keys",
      jwkExtras: () => ({ issuer: `${authority}/{tenantid}/v2.0` })
    })
    authority = kit.baseUrl
    const gateway = await startWith({
      AUTH_ENTRA_TENANT_ID: tenant,
      AUTH_ENTRA_AUDIENCE: `${apiClientId},api://orders`,
      AUTH_ENTRA_AUTHORITY: kit.baseUrl
    })
    return { kit, gateway }
  }

  it("accepts a v2 token for the API with its roles and scopes, and an app-only token as a machine", async () => {
    const { kit, gateway } = await startEntra()
    const user = await kit.mint(
      {
        ver: "2.0",
        tid: tenant,
        oid: "2f9c0e4a-6b1d-4c55-9f0e-1a2b3c4d5e6f",
        name: "Ada Lovelace",
        preferred_username: "ada@contoso.example",
        roles: ["billing"],
        scp: "orders:read orders:write"
      },
      { subject: "pairwise-subject-of-ada", audience: apiClientId }
    )
    expect(await whoami(gateway, user)).toStrictEqual({
      status: 200,
      body: {
        id: "2f9c0e4a-6b1d-4c55-9f0e-1a2b3c4d5e6f",
        kind: "user",
        provider: "entra",
        name: "Ada Lovelace",
        email: "ada@contoso.example",
        groups: [],
        roles: ["billing"],
        permissions: ["orders:read", "orders:write"]
      }
    })
    expect((await withToken(`${gateway.url}/billing/x`, user)).status).toBe(200)

    const servicePrincipal = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    const app = await kit.mint(
      { ver: "2.0", tid: tenant, oid: servicePrincipal, idtyp: "app", roles: ["Orders.ReadWrite.All"] },
      { subject: servicePrincipal, audience: "api://orders" }
    )
    expect((await whoami(gateway, app)).body).toMatchObject({
      id: servicePrincipal,
      kind: "machine",
      roles: ["Orders.ReadWrite.All"]
    })
  })

  it("refuses another tenant, a token naming another tenant than its tid, and a Graph token", async () => {
    const { kit, gateway } = await startEntra()
    const other = "11111111-2222-4333-8444-555555555555"
    const claims = { ver: "2.0", tid: tenant, oid: "2f9c0e4a-6b1d-4c55-9f0e-1a2b3c4d5e6f" }
    const options = { subject: "s", audience: apiClientId }
    await expectInvalidToken(
      gateway,
      await kit.mint({ ...claims, iss: `${kit.baseUrl}/${other}/v2.0`, tid: other }, options),
      "unknown-issuer"
    )
    await expectInvalidToken(gateway, await kit.mint({ ...claims, tid: other }, options), "wrong-issuer")
    await expectInvalidToken(
      gateway,
      await kit.mint(claims, { ...options, audience: "00000003-0000-0000-c000-000000000000" }),
      "wrong-audience"
    )
  })
})

// ---------------------------------------------------------------------------------------------------

describe("oidc-provider through the gateway", () => {
  it("a real authorization server's client-credentials access token is accepted: /whoami 200", async () => {
    const server = await OidcProvider.start()
    try {
      const gateway = await startWith({ AUTH_JWT_ISSUER: server.issuer, AUTH_JWT_AUDIENCE: OidcProvider.resource })
      const token = await server.accessToken()
      expect(await whoami(gateway, token)).toStrictEqual({
        status: 200,
        body: {
          id: OidcProvider.client.id,
          kind: "machine",
          provider: "jwt",
          name: null,
          email: null,
          groups: [],
          roles: [],
          permissions: ["api:read"]
        }
      })
    } finally {
      await server.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------

const run = promisify(execFile)

/** What a shell makes of a printed command line: its arguments, as `curl` would receive them. */
const shellWords = async (assignments: ReadonlyArray<string>, line: string): Promise<ReadonlyArray<string>> => {
  const script = [...assignments, `curl() { for argument in "$@"; do printf '%s\\n' "$argument"; done; }`, line].join(
    "\n"
  )
  const { stdout } = await run("sh", ["-c", script])
  return stdout.split("\n").slice(0, -1)
}

describe("demo mode's dev issuer", () => {
  const startDemo = async () => {
    const gateway = await startGateway()
    await waitForOutput(gateway, (output) => /# \d{3}:[^\n]*\n=+\n[\s\S]*listening on/.test(output), "the demo banner")
    return gateway
  }

  it("prints tokens that work, and every printed curl line, run by a shell, answers the status beside it", async () => {
    const gateway = await startDemo()
    const output = gateway.output()
    expect(output).toMatch(/dev token issuer/)
    const issuer = /issuer: (http:\/\/127\.0\.0\.1:\d+) \(audience effect-auth-demo\)/.exec(output)
    expect(issuer).not.toBeNull()
    expect((await fetch(`${issuer![1]}/.well-known/openid-configuration`)).status).toBe(200)
    const assignments = [...output.matchAll(/^ {3}([A-Z_]+_(?:TOKEN|KEY))=(\S+)$/gm)]
    expect(assignments.map(([, name]) => name)).toEqual(["ADMIN_TOKEN", "USER_TOKEN", "API_KEY"])
    const tokens = Object.fromEntries(assignments.map(([, name, value]) => [name!, value!]))

    expect(await whoami(gateway, tokens.ADMIN_TOKEN!)).toMatchObject({
      status: 200,
      body: { id: "alice", kind: "user", provider: "jwt", groups: ["admin"] }
    })
    expect((await whoami(gateway, tokens.USER_TOKEN!)).body).toMatchObject({ id: "bob", groups: ["staff"] })

    const lines = [...output.matchAll(/^ {3}(curl .*?)\s+# (\d{3}):/gm)].map(([, line, status]) => ({
      line: line!,
      status: Number(status)
    }))
    const bearerLines = lines.filter(({ line }) => line.includes("Bearer"))
    expect(bearerLines.length).toBeGreaterThanOrEqual(4)
    expect(new Set(bearerLines.map(({ status }) => status))).toEqual(new Set([200, 401, 403]))

    for (const { line, status } of lines) {
      const words = await shellWords(
        assignments.map(([assignment]) => assignment.trim()),
        line
      )
      expect(words[0]).toBe("-i")
      const url = words.at(-1)!
      expect(url.startsWith(`${gateway.url}/`)).toBe(true)
      const headers: Record<string, string> = {}
      for (let index = 1; index < words.length - 1; index += 2) {
        const [flag, value] = [words[index], words[index + 1]!]
        if (flag === "-u") headers.authorization = `Basic ${Buffer.from(value).toString("base64")}`
        else if (flag === "-H") {
          const [name, ...rest] = value.split(": ")
          headers[name!.toLowerCase()] = rest.join(": ")
        } else throw new Error(`unexpected curl argument ${flag} in: ${line}`)
      }
      // A token (a JWT) or an API key (`sk-…`): a variable the shell did not expand would be empty.
      if (line.includes("Bearer")) expect(headers.authorization).toMatch(/^Bearer (?:eyJ\S+|sk-[\w-]{16,})$/)
      const response = await fetch(url, { headers })
      expect({ line, status: response.status }).toEqual({ line, status })
    }

    // The listening line comes last: everything above it is ready.
    expect(output.trimEnd().split("\n").at(-1)).toMatch(listeningLine)
  })
})

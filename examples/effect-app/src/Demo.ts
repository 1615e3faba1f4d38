/**
 * The demo setup: a local dev token issuer (the test kit's, never a real one) with freshly minted tokens,
 * two Basic users with fresh random passwords and an API key, all printed once on start with curl lines.
 */
import type { CredentialsRepository } from "@effect-auth/core"
import { ApiKey, PasswordHasher } from "@effect-auth/core"
import { Issuer } from "@effect-auth/testing"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"

/** The dev issuer's tokens are made for this audience, and the app accepts only it. */
export const audience = "effect-auth-demo"

/** Lifetime of the printed tokens: a working day, so a demo left running keeps working. */
export const tokenLifetimeSeconds = 8 * 60 * 60

export interface DemoUser {
  readonly username: string
  readonly password: string
  readonly groups: ReadonlyArray<string>
}

export interface Demo {
  readonly issuer: Issuer.Issuer
  /** A token for `alice`, group `admin`. */
  readonly adminToken: string
  /** A token for `bob`, group `staff`. */
  readonly userToken: string
  /** `alice` (group `admin`) and `bob` (group `staff`), with their passwords. */
  readonly users: ReadonlyArray<DemoUser>
  readonly apiKeyId: string
  readonly apiKey: string
}

const randomPassword = () => Crypto.randomBytes(12).toString("base64url")

/**
 * Starts a local OIDC issuer on 127.0.0.1 (a free port) with a new signing key, mints the demo tokens and
 * makes the demo users and API key. The issuer is closed with the scope.
 */
export const start: Effect.Effect<Demo, never, Scope.Scope> = Effect.gen(function* () {
  const issuer = yield* Effect.acquireRelease(
    Effect.promise(() => Issuer.start()),
    (issuer) => Effect.promise(() => issuer.close())
  )
  const mint = (subject: string, claims: Record<string, unknown>) =>
    Effect.promise(() => issuer.mint(claims, { subject, audience, expiresIn: tokenLifetimeSeconds }))
  return {
    issuer,
    adminToken: yield* mint("alice", { name: "Alice (demo token)", groups: ["admin"] }),
    userToken: yield* mint("bob", { name: "Bob (demo token)", groups: ["staff"] }),
    users: [
      { username: "alice", password: randomPassword(), groups: ["admin"] },
      { username: "bob", password: randomPassword(), groups: ["staff"] }
    ],
    apiKeyId: "demo",
    apiKey: ApiKey.generate()
  }
})

/** The demo users, stored with hashed passwords, as the Basic provider reads them. */
export const credentials = (demo: Demo) =>
  Effect.gen(function* () {
    const hasher = yield* PasswordHasher.PasswordHasher
    const users: Array<CredentialsRepository.StoredCredentials> = []
    for (const user of demo.users) {
      const passwordHash = yield* hasher.hash(Redacted.make(user.password))
      users.push({ username: user.username, passwordHash, groups: user.groups })
    }
    return users
  })

/** The banner printed on start: what to paste, and what each command answers. */
export const banner = (demo: Demo, apiUrl: string, routerUrl: string): string => {
  const [admin, staff] = demo.users
  const alice = `${admin!.username}:${admin!.password}`
  const bob = `${staff!.username}:${staff!.password}`
  const bearer = (variable: string) => `-H "Authorization: Bearer ${variable}"`
  const tries: ReadonlyArray<readonly [string, string]> = [
    [`curl -i ${apiUrl}/health`, "200: public"],
    [`curl -i ${apiUrl}/whoami`, "401: no credentials"],
    [`curl -i ${bearer("$ADMIN_TOKEN")} ${apiUrl}/whoami`, "200: alice's token, group admin"],
    [`curl -i ${bearer("$USER_TOKEN")} ${apiUrl}/admin/report`, "403: bob is not in group admin"],
    [`curl -i ${bearer("$ADMIN_TOKEN")} ${apiUrl}/admin/report`, "200: alice is"],
    [`curl -i ${bearer("${USER_TOKEN}x")} ${apiUrl}/whoami`, "401: a tampered token"],
    [`curl -i -u ${alice} ${apiUrl}/whoami`, "200: alice with her password"],
    [`curl -i -u ${bob} ${apiUrl}/admin/report`, "403: bob with his password"],
    [`curl -i -H "X-API-Key: $API_KEY" ${apiUrl}/whoami`, `200: API key "${demo.apiKeyId}", kind machine`],
    [`curl -s ${apiUrl}/openapi.json`, "the OpenAPI document: bearer, basic and apiKey schemes"],
    [`curl -i ${bearer("$USER_TOKEN")} ${routerUrl}/whoami`, "200: the plain HttpRouter app"],
    [`curl -i ${bearer("$USER_TOKEN")} ${routerUrl}/admin`, "403: its guard"]
  ]
  const width = Math.max(...tries.map(([command]) => command.length))
  const rule = "=".repeat(78)
  return [
    "",
    rule,
    " DEMO: a local dev token issuer, demo users with fresh random passwords and a fresh API key.",
    " Never use the dev issuer in production.",
    `   issuer: ${demo.issuer.issuer} (audience ${audience})`,
    `  HttpApi: ${apiUrl}`,
    `   router: ${routerUrl}`,
    rule,
    ` Paste these lines into your shell first (tokens valid for ${tokenLifetimeSeconds / 3600} hours):`,
    `   ADMIN_TOKEN=${demo.adminToken}`,
    `   USER_TOKEN=${demo.userToken}`,
    `   API_KEY=${demo.apiKey}`,
    rule,
    " Try:",
    ...tries.map(([command, outcome]) => `   ${command.padEnd(width)}  # ${outcome}`),
    rule,
    ""
  ].join("\n")
}

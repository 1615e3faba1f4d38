/**
 * Demo mode: when no provider is configured, `npm start` makes a demo users file with fresh random
 * passwords, a demo API keys file with a fresh key (stored hashed) and a route table, starts a local dev token issuer with freshly minted bearer tokens, so a
 * newcomer can try the gateway with the curl commands it prints.
 */
import { ApiKey, ApiKeyFile, PasswordHasher } from "@effect-auth/core"
import { Issuer } from "@effect-auth/testing"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"

export interface DemoUser {
  readonly username: string
  readonly password: string
  readonly groups: ReadonlyArray<string>
}

export interface Demo {
  readonly usersFile: string
  readonly routesFile: string
  readonly users: ReadonlyArray<DemoUser>
  readonly apiKeysFile: string
  /** The demo key's id, and the key itself: printed once, stored only as its hash. */
  readonly apiKeyId: string
  readonly apiKey: string
}

/** The dev issuer's tokens are made for this audience, and the gateway accepts only it. */
export const audience = "effect-auth-demo"

/** Lifetime of the printed tokens: a working day, so a demo left running keeps working. */
export const tokenLifetimeSeconds = 8 * 60 * 60

export interface DevIssuer {
  readonly issuer: Issuer.Issuer
  /** A token for `alice`, group `admin`. */
  readonly adminToken: string
  /** A token for `bob`, group `staff`. */
  readonly userToken: string
}

const demoRoutes = [
  { path: "/public/*", public: true },
  { path: "/admin/*", require: { groups: ["admin"] } },
  { path: "/reports/*", require: { groups: ["admin", "analyst"] } }
]

const randomPassword = () => Crypto.randomBytes(12).toString("base64url")

/**
 * Writes `users.txt`, `api_keys.txt` and `routes.json` into `directory` (created owner-only) with new
 * passwords and a new key.
 */
export const setup = (directory: string) =>
  Effect.gen(function* () {
    const hasher = yield* PasswordHasher.PasswordHasher
    const users: ReadonlyArray<DemoUser> = [
      { username: "alice", password: randomPassword(), groups: ["admin"] },
      { username: "bob", password: randomPassword(), groups: ["staff"] }
    ]
    const lines: Array<string> = ["# Demo users made by the gateway's demo mode (username:hash:groups)."]
    for (const user of users) {
      const hash = yield* hasher.hash(Redacted.make(user.password))
      lines.push(`${user.username}:${hash}:${user.groups.join(",")}`)
    }
    const apiKeyId = "demo"
    const apiKey = ApiKey.generate()
    // Only the hash is written: the key itself exists in the banner and nowhere else.
    const keyLines = [
      "# Demo API keys made by the gateway's demo mode (key_id:sha256:<hex>).",
      ApiKeyFile.formatLine(apiKeyId, apiKey)
    ]
    const usersFile = Path.join(directory, "users.txt")
    const apiKeysFile = Path.join(directory, "api_keys.txt")
    const routesFile = Path.join(directory, "routes.json")
    yield* Effect.promise(async () => {
      await Fs.mkdir(directory, { recursive: true, mode: 0o700 })
      for (const [file, content] of [
        [usersFile, lines],
        [apiKeysFile, keyLines]
      ] as const) {
        await Fs.writeFile(file, content.join("\n") + "\n", { mode: 0o600 })
        // The mode above applies only when the file is created; an older file keeps its own.
        await Fs.chmod(file, 0o600)
      }
      await Fs.writeFile(routesFile, JSON.stringify(demoRoutes, null, 2) + "\n")
    })
    return { usersFile, routesFile, users, apiKeysFile, apiKeyId, apiKey } satisfies Demo
  })

/**
 * Starts a local OIDC issuer on 127.0.0.1 (a free port) with a new signing key, and mints the demo
 * tokens. It is the test kit's issuer: for trying the gateway on one machine, never a real issuer.
 */
export const startIssuer: Effect.Effect<DevIssuer, string> = Effect.tryPromise({
  try: async () => {
    const issuer = await Issuer.start()
    const mint = (subject: string, claims: Record<string, unknown>) =>
      issuer.mint(claims, { subject, audience, expiresIn: tokenLifetimeSeconds })
    return {
      issuer,
      adminToken: await mint("alice", { name: "Alice (demo token)", groups: ["admin"], scope: "reports:read" }),
      userToken: await mint("bob", { name: "Bob (demo token)", groups: ["staff"], scope: "reports:read" })
    }
  },
  catch: (error) => `cannot start the demo token issuer: ${error instanceof Error ? error.message : String(error)}`
})

/** The banner printed on start in demo mode: what to paste, and what each command answers. */
export const banner = (demo: Demo, dev: DevIssuer, baseUrl: string): string => {
  const [admin, staff] = demo.users
  const alice = `${admin!.username}:${admin!.password}`
  const bob = `${staff!.username}:${staff!.password}`
  const bearer = (variable: string) => `-H "Authorization: Bearer ${variable}"`
  const tries: ReadonlyArray<readonly [string, string]> = [
    [`curl -i ${baseUrl}/healthz`, "200: public"],
    [`curl -i ${baseUrl}/whoami`, "401: no credentials"],
    [`curl -i -u ${alice} ${baseUrl}/whoami`, "200: alice, group admin"],
    [`curl -i -u ${bob} ${baseUrl}/admin/reports`, "403: bob is not in group admin"],
    [`curl -i -u ${alice} ${baseUrl}/admin/reports`, "200: alice is"],
    [`curl -i -u ${admin!.username}:wrong-password ${baseUrl}/whoami`, "401: wrong password"],
    [`curl -i ${bearer("$ADMIN_TOKEN")} ${baseUrl}/whoami`, "200: alice's token, group admin"],
    [`curl -i ${bearer("$USER_TOKEN")} ${baseUrl}/admin/reports`, "403: bob's token is not in group admin"],
    [`curl -i ${bearer("$ADMIN_TOKEN")} ${baseUrl}/admin/reports`, "200: alice's token is"],
    [`curl -i ${bearer("${USER_TOKEN}x")} ${baseUrl}/whoami`, "401: a tampered token"],
    [`curl -i ${bearer("$API_KEY")} ${baseUrl}/whoami`, `200: API key "${demo.apiKeyId}", kind machine`],
    [`curl -i -H "X-API-Key: $API_KEY" ${baseUrl}/metrics`, "200: the key's rate-limit use"],
    [`curl -i ${bearer("sk-not-a-real-key-0000")} ${baseUrl}/whoami`, "401: an unknown key"]
  ]
  const width = Math.max(...tries.map(([command]) => command.length))
  const rule = "=".repeat(78)
  return [
    "",
    rule,
    " DEMO MODE: no provider is configured (AUTH_BASIC_USERS_FILE, AUTH_JWT_ISSUER, ...), so the",
    " gateway made demo users with fresh random passwords and started a local dev token issuer.",
    " Never use demo mode in production.",
    `   users:  ${demo.usersFile}`,
    `   keys:   ${demo.apiKeysFile}`,
    `   routes: ${demo.routesFile}`,
    `   issuer: ${dev.issuer.issuer} (audience ${audience})`,
    rule,
    ` Bearer tokens from the dev issuer, valid for ${tokenLifetimeSeconds / 3600} hours, and the demo API key`,
    " (shown only here; the keys file holds its hash); paste these lines into your shell first:",
    `   ADMIN_TOKEN=${dev.adminToken}`,
    `   USER_TOKEN=${dev.userToken}`,
    `   API_KEY=${demo.apiKey}`,
    rule,
    " Try:",
    ...tries.map(([command, outcome]) => `   ${command.padEnd(width)}  # ${outcome}`),
    rule,
    ""
  ].join("\n")
}

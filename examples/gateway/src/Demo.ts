/**
 * Demo mode: when no provider is configured, `npm start` makes a SQLite database with demo users (fresh
 * random passwords) and their groups, a demo API keys file with a fresh key (stored hashed) and a route
 * table, and starts a local dev token issuer with freshly minted bearer tokens, so a newcomer can try the
 * gateway with the curl commands it prints.
 */
import { ApiKey, ApiKeyFile, PasswordHasher } from "@effect-auth/core"
import { Migrations, SqlAdmin, SqlDatabase } from "@effect-auth/sql"
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
  /** The SQLite file holding the demo users and the grants of every demo principal. */
  readonly databaseFile: string
  /** `sqlite:<databaseFile>`, for `SqlDatabase.layer`. */
  readonly databaseUrl: Redacted.Redacted<string>
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
  /** A token for `alice` (in group `admin` by the demo database's grants). */
  readonly adminToken: string
  /** A token for `bob` (in group `staff` by the demo database's grants). */
  readonly userToken: string
}

const demoRoutes = [
  { path: "/public/*", public: true },
  { path: "/admin/*", require: { groups: ["admin"] } },
  { path: "/reports/*", require: { groups: ["admin", "analyst"] } }
]

const randomPassword = () => Crypto.randomBytes(12).toString("base64url")

/**
 * Brings the demo database up to date and (re)writes the demo users with their new passwords and their
 * groups. The groups are grants of the principal ids `alice` and `bob`, which are also the subjects of the
 * dev issuer's tokens: Basic users and tokens get the same groups from the database. Anything else a
 * person added to the database is kept.
 */
const seed = (users: ReadonlyArray<DemoUser>) =>
  Effect.gen(function* () {
    const hasher = yield* PasswordHasher.PasswordHasher
    // Explicit, as any app should do it: the gateway itself only checks that the schema is there.
    yield* Migrations.run()
    for (const user of users) {
      const passwordHash = yield* hasher.hash(Redacted.make(user.password))
      yield* SqlAdmin.removeUser(user.username)
      yield* SqlAdmin.addUser({ username: user.username, passwordHash })
      for (const group of user.groups) yield* SqlAdmin.grant({ principal: user.username }, { group })
    }
  })

/**
 * Makes `auth.db` (SQLite: the demo users and their groups), `api_keys.txt` and `routes.json` in
 * `directory` (created owner-only), with new passwords and a new key.
 */
export const setup = (directory: string) =>
  Effect.gen(function* () {
    const users: ReadonlyArray<DemoUser> = [
      { username: "alice", password: randomPassword(), groups: ["admin"] },
      { username: "bob", password: randomPassword(), groups: ["staff"] }
    ]
    const apiKeyId = "demo"
    const apiKey = ApiKey.generate()
    // Only the hash is written: the key itself exists in the banner and nowhere else.
    const keyLines = [
      "# Demo API keys made by the gateway's demo mode (key_id:sha256:<hex>).",
      ApiKeyFile.formatLine(apiKeyId, apiKey)
    ]
    const databaseFile = Path.join(directory, "auth.db")
    const apiKeysFile = Path.join(directory, "api_keys.txt")
    const routesFile = Path.join(directory, "routes.json")
    yield* Effect.promise(async () => {
      await Fs.mkdir(directory, { recursive: true, mode: 0o700 })
      // Created owner-only before SQLite opens it (an empty file is an empty database); SQLite gives its
      // journal files the same mode. The chmod covers a file an older run made.
      await Fs.writeFile(databaseFile, "", { flag: "a", mode: 0o600 })
      await Fs.chmod(databaseFile, 0o600)
      await Fs.writeFile(apiKeysFile, keyLines.join("\n") + "\n", { mode: 0o600 })
      // The mode above applies only when the file is created; an older file keeps its own.
      await Fs.chmod(apiKeysFile, 0o600)
      await Fs.writeFile(routesFile, JSON.stringify(demoRoutes, null, 2) + "\n")
    })
    const databaseUrl = Redacted.make(`sqlite:${databaseFile}`)
    yield* Effect.provide(seed(users), SqlDatabase.layer({ url: databaseUrl }))
    return { databaseFile, databaseUrl, routesFile, users, apiKeysFile, apiKeyId, apiKey } satisfies Demo
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
      // No grant claims: the demo database's grants of `alice` and `bob` are what count.
      adminToken: await mint("alice", { name: "Alice (demo token)" }),
      userToken: await mint("bob", { name: "Bob (demo token)" })
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
    " gateway made demo users with fresh random passwords in a SQLite database, and started a local",
    " dev token issuer. Groups of users and tokens alike come from the database.",
    " Never use demo mode in production.",
    ` database: ${demo.databaseFile} (SQLite: users, and groups for users and tokens)`,
    `     keys: ${demo.apiKeysFile}`,
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

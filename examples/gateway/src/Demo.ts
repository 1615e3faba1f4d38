/**
 * Demo mode: when no provider is configured, `npm start` makes a demo users file and route table with
 * fresh random passwords, starts a local dev token issuer with freshly minted bearer tokens, so a
 * newcomer can try the gateway with the curl commands it prints.
 */
import { PasswordHasher } from "@effect-auth/core"
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

/** Writes `users.txt` and `routes.json` into `directory` (created owner-only) with new passwords. */
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
    const usersFile = Path.join(directory, "users.txt")
    const routesFile = Path.join(directory, "routes.json")
    yield* Effect.promise(async () => {
      await Fs.mkdir(directory, { recursive: true, mode: 0o700 })
      await Fs.writeFile(usersFile, lines.join("\n") + "\n", { mode: 0o600 })
      // The mode above applies only when the file is created; an older file keeps its own.
      await Fs.chmod(usersFile, 0o600)
      await Fs.writeFile(routesFile, JSON.stringify(demoRoutes, null, 2) + "\n")
    })
    return { usersFile, routesFile, users } satisfies Demo
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
    [`curl -i ${bearer("${USER_TOKEN}x")} ${baseUrl}/whoami`, "401: a tampered token"]
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
    `   routes: ${demo.routesFile}`,
    `   issuer: ${dev.issuer.issuer} (audience ${audience})`,
    rule,
    ` Bearer tokens from the dev issuer, valid for ${tokenLifetimeSeconds / 3600} hours; paste these lines into your shell first:`,
    `   ADMIN_TOKEN=${dev.adminToken}`,
    `   USER_TOKEN=${dev.userToken}`,
    rule,
    " Try:",
    ...tries.map(([command, outcome]) => `   ${command.padEnd(width)}  # ${outcome}`),
    rule,
    ""
  ].join("\n")
}

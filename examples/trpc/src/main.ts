/**
 * `npm start`: starts a local dev token issuer, mints tokens for `alice` (group admin) and `bob` (group
 * staff), serves the tRPC app on HOST:PORT (default 127.0.0.1:3000) and prints curl lines to try.
 * The issuer is the test kit's: for trying the app on one machine, never a real issuer.
 */
import { Issuer } from "@effect-auth/testing"
import type { AddressInfo } from "node:net"
import * as App from "./App.js"

const audience = "effect-auth-demo"

const main = async () => {
  const issuer = await Issuer.start()
  const mint = (subject: string, groups: ReadonlyArray<string>) =>
    issuer.mint({ groups, name: `${subject} (demo token)` }, { subject, audience, expiresIn: 8 * 60 * 60 })
  const adminToken = await mint("alice", ["admin"])
  const userToken = await mint("bob", ["staff"])
  const runtime = App.runtime({ issuer: issuer.issuer, audience })
  const server = App.server(runtime)
  const host = process.env["HOST"] ?? "127.0.0.1"
  await new Promise<void>((resolve) => server.listen(Number(process.env["PORT"] ?? 3000), host, resolve))
  const { port } = server.address() as AddressInfo
  const base = `http://${host}:${port}`
  const bearer = (variable: string) => `-H "Authorization: Bearer ${variable}"`
  const tries: ReadonlyArray<readonly [string, string]> = [
    [`curl -i ${base}/health`, "200: public, no authentication"],
    [`curl -i ${base}/whoami`, "401: no credentials"],
    [`curl -i ${bearer("$ADMIN_TOKEN")} ${base}/whoami`, "200: alice, group admin"],
    [`curl -i ${bearer("$USER_TOKEN")} ${base}/admin.stats`, "403: bob is not in group admin"],
    [`curl -i ${bearer("$ADMIN_TOKEN")} ${base}/admin.stats`, "200: alice is"],
    [`curl -i ${bearer("${USER_TOKEN}x")} ${base}/whoami`, "401: a tampered token"]
  ]
  const width = Math.max(...tries.map(([command]) => command.length))
  const rule = "=".repeat(78)
  console.log(
    [
      rule,
      ` tRPC example on ${base} (DEMO: local dev token issuer ${issuer.issuer})`,
      " Paste these lines into your shell first (tokens valid for 8 hours):",
      `   ADMIN_TOKEN=${adminToken}`,
      `   USER_TOKEN=${userToken}`,
      rule,
      " Try (60 calls of whoami per minute per caller, then 429):",
      ...tries.map(([command, outcome]) => `   ${command.padEnd(width)}  # ${outcome}`),
      rule
    ].join("\n")
  )
  const stop = () => {
    server.closeAllConnections()
    server.close(() => {
      void runtime.dispose().then(() => issuer.close())
    })
  }
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error))
  process.exitCode = 1
})

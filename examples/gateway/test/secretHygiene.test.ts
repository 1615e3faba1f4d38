/**
 * Secret hygiene: known tokens, passwords and API keys go through every credential path, valid and not,
 * and no trace of them may come back out: not in the gateway's output at the most verbose log level, its
 * audit log, or any response body or header; and, in process, not in any error's message, `String()`,
 * JSON or `util.inspect`, nor in an outcome or principal, nor in the Effect log.
 */
import { ApiKey, Authenticator, BasicAuth, CredentialsRepository, PasswordHasher } from "@effect-auth/core"
import { FetchAuth, NodeHttpAuth } from "@effect-auth/http"
import { JwtProvider } from "@effect-auth/jwt"
import { Issuer, Keys } from "@effect-auth/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs/promises"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Path from "node:path"
import * as Util from "node:util"
import { basic, cleanup, eventually, raw, startGateway, tempDir } from "./helpers.js"

afterEach(cleanup)

// ---------------------------------------------------------------------------------------------------
// The scan

interface Secret {
  readonly name: string
  readonly value: string
}

/**
 * Every place (by name) where a secret shows up, as `"<place>: <secret name>"`; empty when the texts are
 * clean. Secrets shorter than 12 characters are refused: they would match by chance.
 */
const findSecrets = (
  places: Readonly<Record<string, string>>,
  secrets: ReadonlyArray<Secret>
): ReadonlyArray<string> => {
  for (const secret of secrets) {
    if (secret.value.length < 12) throw new Error(`${secret.name} is too short to scan for`)
  }
  return Object.entries(places).flatMap(([place, text]) =>
    secrets.filter((secret) => text.includes(secret.value)).map((secret) => `${place}: ${secret.name}`)
  )
}

/** A token and its signature segment, which alone would let a reader recognise it. */
const tokenSecrets = (name: string, token: string): ReadonlyArray<Secret> => [
  { name, value: token },
  { name: `${name} (signature)`, value: token.split(".")[2] ?? "" }
]

/** An API key and its random part after the `sk-` prefix. */
const keySecrets = (name: string, key: string): ReadonlyArray<Secret> => [
  { name, value: key },
  { name: `${name} (random part)`, value: key.slice(key.indexOf("-") + 1) }
]

/** A password, and the Basic credential that carries it. */
const passwordSecrets = (name: string, username: string, password: string): ReadonlyArray<Secret> => [
  { name, value: password },
  { name: `${name} (Basic credential)`, value: basic(username, password).slice("Basic ".length) }
]

/** Everything a value can be turned into text as: what a careless log line or error report would print. */
const renderings = (value: unknown): string =>
  [
    String(value),
    value instanceof Error ? `${value.message}\n${value.stack ?? ""}` : "",
    JSON.stringify(value) ?? "",
    Util.inspect(value, { depth: 10, showHidden: true, getters: true })
  ].join("\n")

// ---------------------------------------------------------------------------------------------------
// The credentials, shared by the gateway and the in-process adapters

const audience = "hygiene-api"
const username = "alice"
const password = "correct-horse-7f3a9c2e51"
const wrongPassword = "wrong-horse-0b6d4e8a27"
const liveKey = ApiKey.generate()
const revokedKey = ApiKey.generate()
const unknownKey = ApiKey.generate()

let issuer: Issuer.Issuer
let validToken = ""
let expiredToken = ""
let forgedToken = ""
let passwordHash = ""

beforeAll(async () => {
  issuer = await Issuer.start()
  validToken = await issuer.mint({ groups: ["staff"] }, { subject: "hygiene-user", audience })
  expiredToken = await issuer.mint({ groups: ["admin"] }, { subject: "hygiene-user", audience, expiresIn: -3600 })
  // The issuer's kid on another private key: only the signature gives it away.
  const impostor = await Keys.generate(issuer.currentKey.alg, { kid: issuer.currentKey.kid })
  forgedToken = await issuer.mint({ groups: ["admin"] }, { subject: "hygiene-user", audience, key: impostor })
  passwordHash = await Effect.runPromise(
    Effect.flatMap(PasswordHasher.make({ ln: 10 }), (hasher) => hasher.hash(Redacted.make(password)))
  )
})
afterAll(() => issuer.close())

const allSecrets = (): ReadonlyArray<Secret> => [
  ...tokenSecrets("valid token", validToken),
  ...tokenSecrets("expired token", expiredToken),
  ...tokenSecrets("forged token", forgedToken),
  ...passwordSecrets("password", username, password),
  ...passwordSecrets("wrong password", username, wrongPassword),
  ...keySecrets("live API key", liveKey),
  ...keySecrets("revoked API key", revokedKey),
  ...keySecrets("unknown API key", unknownKey)
]

/** Every credential path: its headers and the status an authenticated `/whoami` answers. */
const credentialCases = (): ReadonlyArray<{
  readonly name: string
  readonly headers: Readonly<Record<string, string>>
  readonly status: number
}> => [
  { name: "valid token", headers: { authorization: `Bearer ${validToken}` }, status: 200 },
  { name: "expired token", headers: { authorization: `Bearer ${expiredToken}` }, status: 401 },
  { name: "forged token", headers: { authorization: `Bearer ${forgedToken}` }, status: 401 },
  { name: "Basic, right password", headers: { authorization: basic(username, password) }, status: 200 },
  { name: "Basic, wrong password", headers: { authorization: basic(username, wrongPassword) }, status: 401 },
  { name: "live key as Bearer", headers: { authorization: `Bearer ${liveKey}` }, status: 200 },
  { name: "live key, bare Authorization", headers: { authorization: liveKey }, status: 200 },
  { name: "live key in X-API-Key", headers: { "x-api-key": liveKey }, status: 200 },
  { name: "revoked key as Bearer", headers: { authorization: `Bearer ${revokedKey}` }, status: 401 },
  { name: "revoked key in X-API-Key", headers: { "x-api-key": revokedKey }, status: 401 },
  { name: "unknown key as Bearer", headers: { authorization: `Bearer ${unknownKey}` }, status: 401 },
  { name: "unknown key in X-API-Key", headers: { "x-api-key": unknownKey }, status: 401 }
]

// ---------------------------------------------------------------------------------------------------

describe("the scan", () => {
  it("names the place and the secret it finds, and refuses secrets too short to scan for", () => {
    const secrets = [
      ...tokenSecrets("token", "aaaa.bbbb.signature-0123456789"),
      { name: "key", value: "sk-0123456789ab" }
    ]
    expect(findSecrets({ body: "no secret here", log: "sig signature-0123456789 seen" }, secrets)).toEqual([
      "log: token (signature)"
    ])
    expect(() => findSecrets({}, [{ name: "short", value: "abc" }])).toThrow("too short")
  })
})

describe("the gateway, at AUTH_LOG_LEVEL=all with an audit log", () => {
  it(
    "never writes a token, password or API key to its output, audit log, bodies or headers",
    { timeout: 60_000 },
    async () => {
      const dir = await tempDir()
      await Fs.writeFile(Path.join(dir, "users.txt"), `${username}:${passwordHash}:admin\n`)
      await Fs.writeFile(
        Path.join(dir, "api_keys.json"),
        JSON.stringify([
          { keyId: "live", hash: ApiKey.hash(liveKey) },
          { keyId: "revoked", hash: ApiKey.hash(revokedKey), disabled: true }
        ])
      )
      await Fs.writeFile(
        Path.join(dir, "routes.json"),
        JSON.stringify([{ path: "/admin/*", require: { groups: ["admin"] } }])
      )
      const gateway = await startGateway(
        {
          AUTH_JWT_ISSUER: issuer.issuer,
          AUTH_JWT_JWKS_URL: issuer.jwksUrl,
          AUTH_JWT_AUDIENCE: audience,
          AUTH_BASIC_USERS_FILE: "users.txt",
          AUTH_API_KEYS_FILE: "api_keys.json",
          AUTH_ROUTES_FILE: "routes.json",
          AUTH_AUDIT_LOG: "audit.log",
          AUTH_LOG_LEVEL: "all",
          // Small, so that 429 answers are among those scanned.
          AUTH_RATE_LIMIT_PER_MINUTE: "6"
        },
        dir
      )

      const places: Record<string, string> = {}
      const statuses = new Set<number>()
      let sent = 0
      for (const { name, headers } of credentialCases()) {
        // A credential in the query string too: the audit log keeps paths without their query.
        for (const path of ["/whoami", "/admin/reports", "/metrics", `/whoami?access_token=${validToken}`]) {
          const response = await raw(gateway.url, path, { headers })
          sent++
          statuses.add(response.status)
          places[`${name} ${path.slice(0, 14)} body`] = response.body
          places[`${name} ${path.slice(0, 14)} headers`] = JSON.stringify(response.headers)
        }
      }
      // Every kind of answer was exercised: allowed, refused, forbidden and rate-limited.
      expect([...statuses].sort((a, b) => a - b)).toEqual([200, 401, 403, 429])

      const auditFile = Path.join(dir, "audit.log")
      await eventually(async () => {
        const lines = (await Fs.readFile(auditFile, "utf8")).split("\n").filter((line) => line.length > 0)
        expect(lines).toHaveLength(sent)
      })
      places["audit log"] = await Fs.readFile(auditFile, "utf8")
      await cleanup()
      places["gateway output"] = gateway.output()
      // What was scanned is the real thing: debug lines in the output, the key's id (not the key) audited.
      expect(places["gateway output"]).toContain("level=DEBUG")
      expect(places["audit log"]).toContain('"key_id":"live"')

      expect(findSecrets(places, allSecrets())).toEqual([])
    }
  )
})

describe("in process: Authenticator, NodeHttpAuth and FetchAuth with every log level on", () => {
  /** Every Effect log line, as logfmt and as structured JSON (messages, annotations and causes). */
  const logged: Array<string> = []
  const capture = Logger.make((options) => {
    logged.push(Logger.logfmtLogger.log(options), JSON.stringify(Logger.structuredLogger.log(options)))
  })

  // The logger is provided to the authenticator's construction and kept in the runtime for its requests.
  const logging = Layer.mergeAll(Logger.replace(Logger.defaultLogger, capture), Logger.minimumLogLevel(LogLevel.All))

  const runtimeOf = () =>
    ManagedRuntime.make(
      Authenticator.layer(
        [
          JwtProvider.provider([JwtProvider.issuer({ issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, audience })]),
          BasicAuth.provider(),
          ApiKey.provider()
        ],
        { credentials: { bareApiKey: true } }
      ).pipe(
        Layer.provide([
          NodeHttpClient.layerUndici,
          PasswordHasher.layer({ ln: 10 }),
          CredentialsRepository.layerMemory([{ username, passwordHash, groups: ["admin"] }]),
          ApiKey.layerMemory([
            { keyId: "live", hash: ApiKey.hash(liveKey) },
            { keyId: "revoked", hash: ApiKey.hash(revokedKey), metadata: { disabled: true } }
          ])
        ]),
        Layer.provideMerge(logging)
      )
    )

  it("keeps every secret out of errors, outcomes, principals, responses and logs", { timeout: 60_000 }, async () => {
    const runtime = runtimeOf()
    const places: Record<string, string> = {}
    const server = Http.createServer((request, response) => {
      void NodeHttpAuth.authorize(runtime, request).then((outcome) => {
        places[`node outcome ${request.url}`] = renderings(outcome)
        if (outcome._tag === "Refused") return NodeHttpAuth.sendError(response, outcome.response)
        response.writeHead(200, { "content-type": "application/json" })
        response.end(JSON.stringify({ id: outcome.principal.id }))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      let index = 0
      for (const { name, headers, status } of credentialCases()) {
        index++
        // The Authenticator itself: the failure and everything the cause prints.
        const exit = await runtime.runPromiseExit(
          Effect.flatMap(Authenticator.Authenticator, (authenticator) => authenticator.authenticate(headers))
        )
        expect({ name, ok: Exit.isSuccess(exit) }).toEqual({ name, ok: status === 200 })
        if (Exit.isFailure(exit)) {
          const error = Cause.squash(exit.cause)
          places[`${name}: error`] = renderings(error)
          places[`${name}: cause`] = Cause.pretty(exit.cause, { renderErrorCause: true })
        } else {
          places[`${name}: principal`] = renderings(exit.value)
        }

        // NodeHttpAuth on a real server.
        const node = await raw(url, `/${index}`, { headers })
        expect({ name, status: node.status }).toEqual({ name, status })
        places[`${name}: node response`] = `${node.body}\n${JSON.stringify(node.headers)}`

        // FetchAuth with a Request.
        const outcome = await FetchAuth.authorize(runtime, new Request(`${url}/${index}`, { headers }))
        places[`${name}: fetch outcome`] = renderings(outcome)
        expect({ name, tag: outcome._tag }).toEqual({ name, tag: status === 200 ? "Allowed" : "Refused" })
        if (outcome._tag === "Refused") {
          const response = FetchAuth.toResponse(outcome.response)
          places[`${name}: fetch response`] = `${await response.text()}\n${JSON.stringify([...response.headers])}`
        }
      }
    } finally {
      await new Promise((resolve) => server.close(resolve))
      await runtime.dispose()
    }
    places["Effect log"] = logged.join("\n")
    // The log held debug lines and the refusals' causes, so there was something to leak into.
    expect(places["Effect log"]).toContain("JWKS fetched")
    expect(places["Effect log"]).toContain("InvalidToken")

    expect(findSecrets(places, allSecrets())).toEqual([])
  })
})

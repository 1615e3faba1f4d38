import {
  AuthConfig,
  AuthError,
  Authenticator,
  type AuthProvider,
  Credential,
  GroupsProvider,
  Identity
} from "@effect-auth/core"
import { assert, describe, expect, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"

const TOKEN = "real-token-0123456789"

const provider: AuthProvider.AuthProvider = {
  name: "real",
  accepts: Credential.is("Bearer"),
  authenticate: (credential) =>
    credential._tag === "Bearer" && Redacted.value(credential.token) === TOKEN
      ? Effect.succeed(Identity.make({ id: "alice", kind: "user", provider: "real" }))
      : Effect.fail(new AuthError.InvalidCredentials({ reason: "rejected", scheme: "Bearer" })),
  challenge: { scheme: "Bearer" }
}

/** Runs with exactly these settings, whatever the process environment holds. */
const withEnv =
  (entries: Record<string, string>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withConfigProvider(self, ConfigProvider.fromMap(new Map(Object.entries(entries))))

/** A logger that records every line, in place of the default one. */
const captureLogs = () => {
  const lines: Array<{ readonly level: string; readonly message: string }> = []
  const layer = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      lines.push({
        level: logLevel.label,
        message: Array.isArray(message) ? message.map(String).join(" ") : String(message)
      })
    })
  )
  return { lines, layer }
}

const authenticatorFrom = <E>(layer: Layer.Layer<Authenticator.Authenticator, E>) =>
  Effect.provide(Authenticator.Authenticator, layer)

const noHeaders: Credential.Headers = {}

/** Requests a disabled authenticator must accept as the development user. */
const anyRequests: ReadonlyArray<Credential.Headers> = [
  noHeaders,
  { authorization: "Bearer whatever" },
  { authorization: "Digest nonsense" },
  { authorization: ["Bearer a", "Bearer b"] },
  { authorization: "Bearer x", "x-api-key": "y" }
]

const expectConfigError = (error: unknown) => {
  assert(ConfigError.isConfigError(error), `expected a ConfigError, got ${String(error)}`)
  expect(error._op).toBe("InvalidData")
  assert(error._op === "InvalidData")
  expect(error.path).toStrictEqual(["AUTH_DISABLED"])
}

describe("Authenticator.layerDisabled", () => {
  it.effect("every request, even without headers, is the development principal", () =>
    Effect.gen(function* () {
      const authenticator = yield* authenticatorFrom(Authenticator.layerDisabled()).pipe(withEnv({}))
      expect(authenticator.challenges).toStrictEqual([])
      for (const headers of anyRequests) {
        const principal = yield* authenticator.authenticate(headers)
        expect(principal).toMatchObject({ id: "development", kind: "user", provider: "disabled" })
      }
      const fromCredential = yield* authenticator.authenticateCredential(
        Credential.Basic({ username: "mallory", password: Redacted.make("x") })
      )
      expect(fromCredential.id).toBe("development")
      expect(Authenticator.developmentIdentity).toMatchObject({ id: "development", kind: "user", provider: "disabled" })
    })
  )

  it.effect("uses the identity it is given, with grants from the context it is built in", () =>
    Effect.gen(function* () {
      const identity = Identity.make({ id: "dev-admin", kind: "user", provider: "disabled" })
      const layer = Authenticator.layerDisabled(identity).pipe(
        Layer.provide(GroupsProvider.layerStatic({ "dev-admin": ["admins"] }))
      )
      const authenticator = yield* authenticatorFrom(layer).pipe(withEnv({ NODE_ENV: "development" }))
      const principal = yield* authenticator.authenticate(noHeaders)
      expect(principal.id).toBe("dev-admin")
      expect(yield* principal.groups).toStrictEqual(["admins"])
    })
  )

  it.effect("refuses to build when NODE_ENV is production, in any case", () =>
    Effect.gen(function* () {
      for (const nodeEnv of ["production", "PRODUCTION", "Production", " production "]) {
        const error = yield* Effect.flip(
          authenticatorFrom(Authenticator.layerDisabled()).pipe(withEnv({ NODE_ENV: nodeEnv }))
        )
        expectConfigError(error)
      }
    })
  )

  it.effect("logs a warning every time it is built", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const build = authenticatorFrom(Authenticator.layerDisabled()).pipe(withEnv({ NODE_ENV: "development" }))
      yield* build.pipe(Effect.provide(logs.layer))
      yield* build.pipe(Effect.provide(logs.layer))
      const warnings = logs.lines.filter((line) => line.message.includes("AUTHENTICATION IS DISABLED"))
      expect(warnings).toHaveLength(2)
      expect(warnings.map((line) => line.level)).toStrictEqual(["WARN", "WARN"])
    })
  )
})

describe("Authenticator.layerConfig", () => {
  const live = Authenticator.layerConfig([Effect.succeed(provider)])

  it.effect("AUTH_DISABLED=true: every request is the development principal", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const authenticator = yield* authenticatorFrom(live).pipe(
        withEnv({ AUTH_DISABLED: "true", NODE_ENV: "development" }),
        Effect.provide(logs.layer)
      )
      for (const headers of anyRequests) {
        expect((yield* authenticator.authenticate(headers)).id).toBe("development")
      }
      expect(logs.lines.filter((line) => line.message.includes("AUTHENTICATION IS DISABLED"))).toHaveLength(1)
    })
  )

  it.effect("AUTH_DISABLED=true with NODE_ENV=production fails to build with a ConfigError", () =>
    Effect.gen(function* () {
      for (const nodeEnv of ["production", "PRODUCTION"]) {
        const error = yield* Effect.flip(
          authenticatorFrom(live).pipe(withEnv({ AUTH_DISABLED: "true", NODE_ENV: nodeEnv }))
        )
        expectConfigError(error)
      }
    })
  )

  it.effect("AUTH_DISABLED unset: the real providers decide, and nothing is logged about disabling", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const authenticator = yield* authenticatorFrom(live).pipe(withEnv({}), Effect.provide(logs.layer))

      const missing = yield* Effect.flip(authenticator.authenticate(noHeaders))
      expect(missing).toMatchObject({ _tag: "MissingCredentials", reason: "absent" })
      const rejected = yield* Effect.flip(authenticator.authenticate({ authorization: "Bearer wrong" }))
      expect(rejected).toMatchObject({ _tag: "InvalidCredentials", reason: "rejected" })
      const principal = yield* authenticator.authenticate({ authorization: `Bearer ${TOKEN}` })
      expect(principal).toMatchObject({ id: "alice", provider: "real" })
      expect(authenticator.challenges).toStrictEqual([{ scheme: "Bearer" }])

      expect(logs.lines.filter((line) => line.message.includes("AUTHENTICATION IS DISABLED"))).toHaveLength(0)
    })
  )

  it.effect("AUTH_DISABLED=false: the real providers decide", () =>
    Effect.gen(function* () {
      const authenticator = yield* authenticatorFrom(live).pipe(withEnv({ AUTH_DISABLED: "false" }))
      const missing = yield* Effect.flip(authenticator.authenticate(noHeaders))
      expect(missing).toMatchObject({ _tag: "MissingCredentials", reason: "absent" })
    })
  )

  it.effect("NODE_ENV=production with authentication enabled builds normally", () =>
    Effect.gen(function* () {
      const authenticator = yield* authenticatorFrom(live).pipe(withEnv({ NODE_ENV: "production" }))
      expect((yield* authenticator.authenticate({ authorization: `Bearer ${TOKEN}` })).id).toBe("alice")
      const missing = yield* Effect.flip(authenticator.authenticate(noHeaders))
      expect(missing._tag).toBe("MissingCredentials")
    })
  )

  it.effect("an unreadable AUTH_DISABLED fails to build instead of guessing", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(authenticatorFrom(live).pipe(withEnv({ AUTH_DISABLED: "maybe" })))
      assert(ConfigError.isConfigError(error), `expected a ConfigError, got ${String(error)}`)
    })
  )
})

describe("AuthConfig", () => {
  it.effect("reads its settings with defaults", () =>
    Effect.gen(function* () {
      expect(yield* AuthConfig.disabled.pipe(withEnv({}))).toBe(false)
      expect(yield* AuthConfig.disabled.pipe(withEnv({ AUTH_DISABLED: "true" }))).toBe(true)
      expect(yield* AuthConfig.nodeEnv.pipe(withEnv({}))).toBe("")
      expect(yield* AuthConfig.nodeEnv.pipe(withEnv({ NODE_ENV: " Production " }))).toBe("production")
      expect(yield* AuthConfig.apiKeyHeader.pipe(withEnv({}))).toBe("x-api-key")
      expect(yield* AuthConfig.apiKeyHeader.pipe(withEnv({ AUTH_API_KEY_HEADER: "x-key" }))).toBe("x-key")
      expect((yield* AuthConfig.logLevel.pipe(withEnv({}))).label).toBe("INFO")
      expect((yield* AuthConfig.logLevel.pipe(withEnv({ AUTH_LOG_LEVEL: "debug" }))).label).toBe("DEBUG")
    })
  )

  it.effect("reads AUTH_LOG_LEVEL in the documented spellings, case-insensitively, and refuses others", () =>
    Effect.gen(function* () {
      const level = (value: string) =>
        Effect.map(AuthConfig.logLevel.pipe(withEnv({ AUTH_LOG_LEVEL: value })), (l) => l.label)
      expect(yield* level("warning")).toBe("WARN")
      expect(yield* level("WARN")).toBe("WARN")
      expect(yield* level("none")).toBe("OFF")
      expect(yield* level("off")).toBe("OFF")
      expect(yield* level(" Error ")).toBe("ERROR")
      const refused = yield* Effect.flip(AuthConfig.logLevel.pipe(withEnv({ AUTH_LOG_LEVEL: "loud" })))
      expect(String(refused)).toContain("AUTH_LOG_LEVEL")
    })
  )
})

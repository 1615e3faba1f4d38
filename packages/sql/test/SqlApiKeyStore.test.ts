import { ApiKey, AuthError, Authenticator, type Credential } from "@effect-auth/core"
import { Migrations, SqlAdmin, SqlApiKeyStore, SqlDatabase } from "@effect-auth/sql"
import { Databases, TcpProxy } from "@effect-auth/testing"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"

class DatabaseUrl extends Context.Tag("test/DatabaseUrl")<DatabaseUrl, string>() {}

/** A fresh, migrated database for this file, dropped when the suite ends. */
const TestDatabase = (dialect: Databases.Dialect) =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const db = yield* Effect.acquireRelease(
        Effect.promise(() => dialect.create()),
        (created) => Effect.promise(() => created.drop())
      )
      return Migrations.layerMigrated().pipe(
        Layer.provideMerge(SqlDatabase.layer({ url: Redacted.make(db.url) })),
        Layer.merge(Layer.succeed(DatabaseUrl, db.url))
      )
    })
  )

const withKey = (key: Redacted.Redacted<string>): Credential.Headers => ({ "x-api-key": Redacted.value(key) })

/** An authenticator with the API key provider over the SQL keys, on the database in context. */
const authenticator = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const context = yield* Layer.build(
    Authenticator.layer([ApiKey.provider()]).pipe(
      Layer.provide(SqlApiKeyStore.layer()),
      Layer.provide(Layer.succeed(SqlClient.SqlClient, sql))
    )
  )
  return Context.get(context, Authenticator.Authenticator)
})

const captureLogs = () => {
  const lines: Array<string> = []
  return {
    lines,
    layer: Logger.replace(
      Logger.defaultLogger,
      Logger.make((options) => void lines.push(Logger.logfmtLogger.log(options)))
    )
  }
}

const rejected = new AuthError.InvalidCredentials({ reason: "rejected", scheme: "ApiKey" })

const untilOk = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 100; i++) {
      const result = yield* Effect.either(effect)
      if (result._tag === "Right") return result.right
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.dieMessage("the database did not come back within 10 seconds")
  })

for (const dialect of Databases.all) {
  describe.runIf(await dialect.shouldRun())(dialect.name, () => {
    it.layer(TestDatabase(dialect), { timeout: "30 seconds" })((it) => {
      it.scoped("authenticates a key created through the admin API, with its owner and rate limit in the claims", () =>
        Effect.gen(function* () {
          const created = yield* SqlAdmin.createApiKey({
            keyId: "billing",
            owner: "billing-service",
            description: "Billing batch jobs",
            rateLimitPerMinute: 600
          })
          expect(created.keyId).toBe("billing")
          const auth = yield* authenticator
          const principal = yield* auth.authenticate(withKey(created.key))
          expect(principal.id).toBe("billing")
          expect(principal.kind).toBe("machine")
          expect(principal.provider).toBe("api-key")
          expect(principal.claims).toEqual({ key_id: "billing", owner: "billing-service", rate_limit_per_minute: 600 })
          // A key is also taken as a bearer token.
          const bearer = yield* auth.authenticate({ authorization: `Bearer ${Redacted.value(created.key)}` })
          expect(bearer.id).toBe("billing")
        })
      )

      it.scoped("refuses a revoked key with the unknown key's answer", () =>
        Effect.gen(function* () {
          const created = yield* SqlAdmin.createApiKey({ owner: "reports" })
          const auth = yield* authenticator
          expect((yield* auth.authenticate(withKey(created.key))).id).toBe(created.keyId)
          expect(yield* SqlAdmin.revokeApiKey(created.keyId)).toBe(true)
          expect(yield* Effect.flip(auth.authenticate(withKey(created.key)))).toEqual(rejected)
          const unknown = yield* Effect.flip(auth.authenticate(withKey(Redacted.make(ApiKey.generate()))))
          expect(unknown).toEqual(rejected)
        })
      )

      it.scoped("refuses a key from its expiry on", () =>
        Effect.gen(function* () {
          // The test clock starts at 0: the key is valid for one minute.
          const created = yield* SqlAdmin.createApiKey({ expiresAt: new Date(60_000) })
          const auth = yield* authenticator
          expect((yield* auth.authenticate(withKey(created.key))).id).toBe(created.keyId)
          yield* TestClock.adjust("59 seconds")
          expect((yield* auth.authenticate(withKey(created.key))).id).toBe(created.keyId)
          yield* TestClock.adjust("1 second")
          expect(yield* Effect.flip(auth.authenticate(withKey(created.key)))).toEqual(rejected)
          const past = yield* SqlAdmin.createApiKey({ expiresAt: new Date(1_000) })
          expect(yield* Effect.flip(auth.authenticate(withKey(past.key)))).toEqual(rejected)
        })
      )

      it.scoped("refuses unknown keys, and keys that differ in one character or in case", () =>
        Effect.gen(function* () {
          const created = yield* SqlAdmin.createApiKey({ keyId: "exact" })
          const key = Redacted.value(created.key)
          const auth = yield* authenticator
          const variants = [
            ApiKey.generate(),
            `${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`,
            key.toUpperCase() === key ? key.toLowerCase() : key.toUpperCase(),
            `${key}x`
          ]
          for (const variant of variants) {
            expect(yield* Effect.flip(auth.authenticate({ "x-api-key": variant }))).toEqual(rejected)
          }
          expect((yield* auth.authenticate(withKey(created.key))).id).toBe("exact")
        })
      )

      it.effect("stores only the key's hash, never the key", () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const created = yield* SqlAdmin.createApiKey({ keyId: "stored", owner: "o", description: "d" })
          const key = Redacted.value(created.key)
          expect(ApiKey.isValidKey(key)).toBe(true)
          const rows = yield* sql<Record<string, unknown>>`SELECT * FROM auth_api_keys`
          const row = rows.find((candidate) => candidate.key_id === "stored")
          expect(row?.key_hash).toBe(ApiKey.hash(key))
          const everything = JSON.stringify(rows, (_, value: unknown) =>
            typeof value === "bigint" ? value.toString() : value
          )
          expect(everything).not.toContain(key)
          expect(everything).not.toContain(key.slice(3, 20))
        })
      )

      it.effect("answers the stored metadata: expiry as a Date, disabled, rate limit, owner", () =>
        Effect.gen(function* () {
          const expiresAt = new Date("2100-01-02T03:04:05.678Z")
          const created = yield* SqlAdmin.createApiKey({
            keyId: "meta",
            owner: "ops",
            expiresAt,
            rateLimitPerMinute: 42
          })
          const store = yield* SqlApiKeyStore.make()
          const entry = yield* store.lookup(created.key)
          expect(entry).toEqual(
            Option.some({
              keyId: "meta",
              hash: ApiKey.hash(Redacted.value(created.key)),
              metadata: { expiresAt, disabled: false, rateLimitPerMinute: 42, owner: "ops" }
            })
          )
          const plain = yield* SqlAdmin.createApiKey({ keyId: "plain" })
          const plainEntry = yield* store.lookup(plain.key)
          expect(Option.map(plainEntry, (found) => found.metadata)).toEqual(
            Option.some({ expiresAt: undefined, disabled: false, rateLimitPerMinute: undefined, owner: undefined })
          )
          yield* SqlAdmin.revokeApiKey("plain")
          expect(Option.map(yield* store.lookup(plain.key), (found) => found.metadata?.disabled)).toEqual(
            Option.some(true)
          )
          expect(Option.isNone(yield* store.lookup(Redacted.make(ApiKey.generate())))).toBe(true)
        })
      )

      it.effect("counts the keys that are not disabled", () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const store = yield* SqlApiKeyStore.make()
          const [before] = yield* sql<{ readonly n: number | string }>`SELECT COUNT(*) AS n FROM auth_api_keys
            WHERE disabled = 0`
          const initial = Number(before?.n)
          expect(yield* store.size).toBe(initial)
          const a = yield* SqlAdmin.createApiKey()
          yield* SqlAdmin.createApiKey()
          expect(yield* store.size).toBe(initial + 2)
          yield* SqlAdmin.revokeApiKey(a.keyId)
          expect(yield* store.size).toBe(initial + 1)
        })
      )

      it.scoped("treats a row it cannot trust as no key, and logs it by key id", () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const logs = captureLogs()
          const auth = yield* authenticator
          const store = yield* SqlApiKeyStore.make()
          const insert = (keyId: string, hash: string, extra: { disabled?: number; rate?: number }) =>
            sql`INSERT INTO auth_api_keys ${sql.insert({
              key_id: keyId,
              key_hash: hash,
              disabled: extra.disabled ?? 0,
              rate_limit_per_minute: extra.rate ?? null,
              created_at: 0
            })}`
          const zeroRate = ApiKey.generate()
          yield* insert("zero-rate", ApiKey.hash(zeroRate), { rate: 0 })
          const negativeRate = ApiKey.generate()
          yield* insert("negative-rate", ApiKey.hash(negativeRate), { rate: -5 })
          const oddlyDisabled = ApiKey.generate()
          yield* insert("oddly-disabled", ApiKey.hash(oddlyDisabled), { disabled: 2 })
          const upperCase = ApiKey.generate()
          yield* insert("upper-case", ApiKey.hash(upperCase).toUpperCase(), {})
          for (const key of [zeroRate, negativeRate, oddlyDisabled, upperCase]) {
            const refused = yield* Effect.flip(auth.authenticate({ "x-api-key": key }).pipe(Effect.provide(logs.layer)))
            expect(refused).toEqual(rejected)
          }
          expect(Option.isNone(yield* store.lookup(Redacted.make(zeroRate)))).toBe(true)
          expect(logs.lines.some((line) => line.includes("zero-rate"))).toBe(true)
          expect(logs.lines.some((line) => line.includes("negative-rate"))).toBe(true)
          for (const key of [zeroRate, negativeRate, oddlyDisabled, upperCase]) {
            expect(logs.lines.join("\n")).not.toContain(ApiKey.hash(key).slice(7))
          }
        })
      )

      it.effect("fails to build with an invalid table prefix", () =>
        Effect.gen(function* () {
          const error = yield* Effect.flip(SqlApiKeyStore.make({ tablePrefix: "1bad" }))
          expect(error._op).toBe("InvalidData")
        })
      )

      if (dialect.name === "pg") {
        it.scoped("answers ProviderUnavailable while the database is away, and recovers by itself", () =>
          TestServices.provideLive(
            Effect.gen(function* () {
              const url = yield* DatabaseUrl
              const created = yield* SqlAdmin.createApiKey({ keyId: "outage" })
              const proxy = yield* TcpProxy.scoped({ host: dialect.host ?? "127.0.0.1", port: dialect.port ?? 5432 })
              const proxied = url.replace(`:${dialect.port ?? 5432}/`, `:${proxy.port}/`)
              expect(proxied).not.toBe(url)
              const context = yield* Layer.build(
                Authenticator.layer([ApiKey.provider()]).pipe(
                  Layer.provideMerge(SqlApiKeyStore.layer({ queryTimeout: "1 second" })),
                  Layer.provide(SqlDatabase.layer({ url: Redacted.make(proxied), connectTimeout: "1 second" }))
                )
              )
              const auth = Context.get(context, Authenticator.Authenticator)
              expect((yield* auth.authenticate(withKey(created.key))).id).toBe("outage")

              yield* Effect.promise(() => proxy.cut())
              for (const key of [created.key, Redacted.make(ApiKey.generate())]) {
                const error = yield* Effect.flip(auth.authenticate(withKey(key)))
                expect(error._tag).toBe("ProviderUnavailable")
              }
              // The count has no error channel: it answers 0 (and logs) rather than fail.
              expect(yield* Context.get(context, ApiKey.ApiKeyStore).size).toBe(0)

              yield* Effect.promise(() => proxy.restore())
              expect((yield* untilOk(auth.authenticate(withKey(created.key)))).id).toBe("outage")
              expect(yield* Effect.flip(auth.authenticate(withKey(Redacted.make(ApiKey.generate()))))).toEqual(rejected)
            })
          )
        )
      }
    })
  })
}

// What the CLI wrote, read back through the stores an application uses: SqlGrantStore for grants,
// BasicAuth over SqlCredentialsRepository for users, ApiKey.provider over SqlApiKeyStore for keys.
import { ApiKey, BasicAuth, Credential, PasswordHasher } from "@effect-auth/core"
import type { GrantStore, Identity } from "@effect-auth/core"
import { SqlApiKeyStore, SqlCredentialsRepository, SqlDatabase, SqlGrantStore } from "@effect-auth/sql"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"

const withDatabase = <A, E>(
  url: string,
  effect: Effect.Effect<A, E, SqlClient.SqlClient | PasswordHasher.PasswordHasher>
) =>
  Effect.runPromise(
    effect.pipe(
      Effect.provide(Layer.merge(PasswordHasher.layer({ ln: 10 }), SqlDatabase.layer({ url: Redacted.make(url) }))),
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
  )

/** A principal's effective grants as an application would load them. */
export const grantsOf = (url: string, principal: string): Promise<GrantStore.EffectiveGrants> =>
  withDatabase(
    url,
    Effect.flatMap(SqlGrantStore.make(), (store) => store.load(principal))
  )

/** Logs in with Basic credentials: the identity, or `undefined` when refused. */
export const basicLogin = (url: string, username: string, password: string): Promise<Identity.Identity | undefined> =>
  withDatabase(
    url,
    Effect.gen(function* () {
      const provider = yield* BasicAuth.provider()
      const result = yield* Effect.either(
        provider.authenticate(Credential.Basic({ username, password: Redacted.make(password) }))
      )
      return Either.getOrUndefined(result)
    }).pipe(Effect.provide(SqlCredentialsRepository.layer()))
  )

/** Presents an API key: the identity, or `undefined` when refused. */
export const apiKeyLogin = (url: string, key: string): Promise<Identity.Identity | undefined> =>
  withDatabase(
    url,
    Effect.gen(function* () {
      const provider = yield* ApiKey.provider()
      const result = yield* Effect.either(
        provider.authenticate(Credential.ApiKey({ key: Redacted.make(key), header: "x-api-key" }))
      )
      return Either.getOrUndefined(result)
    }).pipe(Effect.provide(SqlApiKeyStore.layer()))
  )

/** Every row of a table, as the database holds it. */
export const rowsOf = (url: string, table: string): Promise<ReadonlyArray<Record<string, unknown>>> =>
  withDatabase(
    url,
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql<Record<string, unknown>>`SELECT * FROM ${sql(table)}`)
  )

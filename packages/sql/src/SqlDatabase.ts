/**
 * The database the SQL stores run on, chosen by its URL: PostgreSQL (`postgres://…`), MySQL or MariaDB
 * (`mysql://…`, `mariadb://…`) or SQLite (`sqlite:<path>`, `sqlite::memory:`). Each dialect's client is
 * an optional peer dependency, loaded only when a URL asks for it, so an app installs only its own driver.
 *
 * The database password never reaches a log line or an error message: URLs are shown through
 * {@link redactUrl}, and a failure to connect is reported with the driver's message cleaned of it.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"

/**
 * Options shared by every SQL store.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreOptions {
  /** Prefix of every table name (default `auth_`): a lowercase letter, then up to 30 of `[a-z0-9_]`. */
  readonly tablePrefix?: string | undefined
  /**
   * How long one store query may take (default 2 seconds). On timeout or any database error the request
   * fails with `ProviderUnavailable` (503), never with empty grants.
   */
  readonly queryTimeout?: Duration.DurationInput | undefined
}

/**
 * The SQL dialects the stores support. MariaDB is `"mysql"`.
 *
 * @since 0.1.0
 * @category models
 */
export type Dialect = "pg" | "mysql" | "sqlite"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * `postgres://user:password@host:5432/db`, `postgresql://…`, `mysql://user:password@host:3306/db`,
   * `mariadb://…`, `sqlite:<path>` or `sqlite::memory:`.
   */
  readonly url: Redacted.Redacted<string>
  /** Most connections open at once (PostgreSQL, MySQL); 1 to 100, default 10. */
  readonly poolSize?: number | undefined
  /** How long opening a connection may take, at start-up and later (default 5 seconds). */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * How long a PostgreSQL or MySQL connection may stay silent, no byte either way, before it is
   * destroyed as dead (default 10 seconds, at least 3 seconds). It bounds how long a connection the
   * network silently lost (a failover, a firewall or NAT forgetting it) keeps failing requests; it is
   * also the longest a single statement may run. Idle connections are closed by the pool after half of
   * it, so a healthy one is never cut.
   */
  readonly socketTimeout?: Duration.DurationInput | undefined
}

/**
 * The default {@link Options.poolSize}.
 *
 * @since 0.1.0
 */
export const defaultPoolSize = 10

/**
 * The largest {@link Options.poolSize}.
 *
 * @since 0.1.0
 */
export const maxPoolSize = 100

/**
 * The default {@link Options.connectTimeout}.
 *
 * @since 0.1.0
 */
export const defaultConnectTimeout: Duration.Duration = Duration.seconds(5)

/**
 * The default {@link Options.socketTimeout}.
 *
 * @since 0.1.0
 */
export const defaultSocketTimeout: Duration.Duration = Duration.seconds(10)

/**
 * The shortest {@link Options.socketTimeout}: idle connections must be closed by the pool before it, and
 * the MySQL pool looks for them once a second.
 *
 * @since 0.1.0
 */
export const minSocketTimeout: Duration.Duration = Duration.seconds(3)

// How long closing the layer waits for the driver to say goodbye on each connection before destroying
// what is left: a dead connection never answers a goodbye.
const shutdownGrace = Duration.seconds(1)

// MySQL requests waiting for a free connection, per connection: beyond this they fail at once (503)
// instead of piling up behind dead connections and running, unawaited, once they are replaced.
const queuedPerConnection = 100

const schemes: ReadonlyArray<readonly [prefix: string, dialect: Dialect]> = [
  ["postgres://", "pg"],
  ["postgresql://", "pg"],
  ["mysql://", "mysql"],
  ["mariadb://", "mysql"],
  ["sqlite:", "sqlite"]
]

/**
 * The dialect a database URL names, by its scheme (case-insensitive), or `undefined` for any other URL.
 *
 * @example
 * ```ts
 * import { SqlDatabase } from "@effect-auth/sql"
 *
 * SqlDatabase.dialectOf("mariadb://auth@db/auth") // "mysql"
 * SqlDatabase.dialectOf("sqlite::memory:") // "sqlite"
 * SqlDatabase.dialectOf("mongodb://db") // undefined
 * ```
 *
 * @since 0.1.0
 */
export const dialectOf = (url: string): Dialect | undefined => {
  const lower = url.trimStart().slice(0, 16).toLowerCase()
  return schemes.find(([prefix]) => lower.startsWith(prefix))?.[1]
}

const hidden = "***"

// Query parameters a driver accepts a secret in (`?password=…` works with pg and mysql2).
const secretParameter = /pass|secret|token|key/i

/**
 * The URL with its password, and any query parameter that looks like a secret, replaced by `***`: what
 * may be logged or put in an error message. A URL that cannot be parsed keeps only its scheme, since
 * where its password starts cannot be known.
 *
 * @example
 * ```ts
 * import { SqlDatabase } from "@effect-auth/sql"
 *
 * SqlDatabase.redactUrl("postgres://auth:s3cret@db:5432/auth") // "postgres://auth:***@db:5432/auth"
 * ```
 *
 * @since 0.1.0
 */
export const redactUrl = (url: string): string => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url.trim())?.[0]
    return scheme === undefined ? hidden : `${scheme}${hidden}`
  }
  if (parsed.password !== "") parsed.password = hidden
  for (const key of Array.from(parsed.searchParams.keys())) {
    if (secretParameter.test(key)) parsed.searchParams.set(key, hidden)
  }
  // `URL` percent-encodes the asterisks it was given; show them as written.
  return parsed.href.replaceAll(encodeURIComponent(hidden), hidden).replaceAll("%2A", "*")
}

const invalid = (message: string) => ConfigError.InvalidData([], message)

/** Every secret a driver message could echo: the password as written in the URL and decoded. */
const secretsOf = (url: string): ReadonlyArray<string> => {
  try {
    const parsed = new URL(url)
    const secrets = new Set<string>()
    if (parsed.password !== "") {
      secrets.add(parsed.password)
      secrets.add(decodeURIComponent(parsed.password))
    }
    for (const [key, value] of parsed.searchParams) {
      if (secretParameter.test(key) && value !== "") secrets.add(value)
    }
    return Array.from(secrets)
  } catch {
    return []
  }
}

/** The messages and codes of an error and its causes: enough to act on, with every secret removed. */
const describe = (error: unknown, secrets: ReadonlyArray<string>): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    const { message, code } = current as { readonly message?: unknown; readonly code?: unknown }
    if (typeof message === "string" && message !== "" && !parts.includes(message)) parts.push(message)
    if (typeof code === "string" && !parts.includes(code)) parts.push(code)
    current = (current as { readonly cause?: unknown }).cause
  }
  let text = parts.join(": ")
  for (const secret of secrets) text = text.replaceAll(secret, hidden)
  return text
}

/**
 * A failure to connect, told without the driver's error object: its fields (options, URLs) are not ours
 * to vouch for, so only its message and code are kept, cleaned of the password.
 */
const connectFailure = (dialect: Dialect, url: string, error: unknown) =>
  new SqlError({
    message: `Cannot connect to the ${dialect} database at ${redactUrl(url)}: ${describe(error, secretsOf(url))}`
  })

const packages: Record<Dialect, string> = {
  pg: "@effect/sql-pg",
  mysql: "@effect/sql-mysql2",
  sqlite: "@effect/sql-sqlite-node"
}

// A literal specifier per dialect, so bundlers see them, each loaded only when its dialect is used.
const importClient = {
  pg: () => import("@effect/sql-pg"),
  mysql: () => import("@effect/sql-mysql2"),
  sqlite: () => import("@effect/sql-sqlite-node")
} as const

const load = <D extends Dialect>(
  dialect: D
): Effect.Effect<Awaited<ReturnType<(typeof importClient)[D]>>, ConfigError.ConfigError> =>
  Effect.tryPromise({
    try: () => importClient[dialect]() as Promise<Awaited<ReturnType<(typeof importClient)[D]>>>,
    catch: () =>
      ConfigError.MissingData(
        [],
        `The ${dialect} database client is not installed: run \`npm install ${packages[dialect]}\``
      )
  })

interface Settings {
  readonly url: string
  readonly dialect: Dialect
  readonly poolSize: number
  readonly connectTimeout: Duration.Duration
  readonly socketTimeout: Duration.Duration
}

const settingsOf = (options: Options): Effect.Effect<Settings, ConfigError.ConfigError> =>
  Effect.suspend(() => {
    const url = Redacted.value(options.url).trim()
    const dialect = dialectOf(url)
    if (dialect === undefined) {
      return Effect.fail(
        invalid(
          `Unsupported database URL "${redactUrl(url)}": expected postgres://, postgresql://, mysql://, mariadb://, sqlite:<path> or sqlite::memory:`
        )
      )
    }
    if (dialect === "sqlite" ? url.length <= "sqlite:".length : !URL.canParse(url) || new URL(url).hostname === "") {
      return Effect.fail(invalid(`Malformed database URL "${redactUrl(url)}"`))
    }
    const poolSize = options.poolSize ?? defaultPoolSize
    if (!Number.isSafeInteger(poolSize) || poolSize < 1 || poolSize > maxPoolSize) {
      return Effect.fail(
        invalid(`Invalid database pool size ${poolSize}: expected an integer from 1 to ${maxPoolSize}`)
      )
    }
    const connectTimeout = Duration.decodeUnknown(options.connectTimeout ?? defaultConnectTimeout)
    if (
      connectTimeout._tag === "None" ||
      !Duration.isFinite(connectTimeout.value) ||
      Duration.toMillis(connectTimeout.value) <= 0
    ) {
      return Effect.fail(invalid("Invalid database connect timeout: expected a positive, finite duration"))
    }
    const socketTimeout = Duration.decodeUnknown(options.socketTimeout ?? defaultSocketTimeout)
    if (
      socketTimeout._tag === "None" ||
      !Duration.isFinite(socketTimeout.value) ||
      Duration.lessThan(socketTimeout.value, minSocketTimeout)
    ) {
      return Effect.fail(
        invalid(
          `Invalid database socket timeout: expected a finite duration of at least ${Duration.format(minSocketTimeout)}`
        )
      )
    }
    return Effect.succeed({
      url,
      dialect,
      poolSize,
      connectTimeout: connectTimeout.value,
      socketTimeout: socketTimeout.value
    })
  })

/**
 * The TCP connections of one pool, each destroyed once silent for the socket timeout. A connection
 * whose packets the network drops without a word (a failover, a firewall or NAT forgetting it) never
 * fails by itself until the kernel gives up, about 15 minutes later; until then its query, and its
 * pool slot, wait. Destroyed, it fails what waits on it and the pool opens a fresh one. Keep-alive
 * probes let the kernel notice a dead idle connection sooner where the network answers them.
 */
interface Sockets {
  /** A new socket under watch, not connected yet. */
  readonly make: () => Net.Socket
  /** Destroys every socket still open. */
  readonly destroyAll: () => void
}

const sockets = (socketTimeout: Duration.Duration): Sockets => {
  const open = new Set<Net.Socket>()
  const millis = Duration.toMillis(socketTimeout)
  return {
    make: () => {
      const socket = new Net.Socket()
      open.add(socket)
      socket.once("close", () => open.delete(socket))
      socket.setNoDelay(true)
      // Watched from the connection on: opening one is bounded by the connect timeout.
      socket.once("connect", () => {
        socket.setKeepAlive(true, millis / 2)
        socket.setTimeout(millis, () =>
          socket.destroy(
            new Error(`The database connection was silent for ${Duration.format(socketTimeout)}: presumed dead`)
          )
        )
      })
      return socket
    },
    destroyAll: () => {
      for (const socket of open) socket.destroy()
    }
  }
}

/** What mysql2 gives its `stream` factory: the connection's resolved options. */
interface MysqlStreamOptions {
  readonly config: { readonly host: string; readonly port: number; readonly socketPath?: string | undefined }
}

type Client = Effect.Effect<SqlClient.SqlClient, unknown, Scope.Scope | Reactivity.Reactivity>

const client = (settings: Settings, watched: Sockets): Effect.Effect<Client, ConfigError.ConfigError> => {
  const { connectTimeout, poolSize, url } = settings
  // Healthy idle connections are closed by the pool well before the socket timeout would cut them.
  const idleTimeout = Duration.unsafeDivide(settings.socketTimeout, 2)
  switch (settings.dialect) {
    case "pg":
      return Effect.map(load("pg"), ({ PgClient }) =>
        // pg connects the stream itself, and wraps it in TLS when the URL asks for it.
        PgClient.make({
          url: Redacted.make(url),
          maxConnections: poolSize,
          connectTimeout,
          idleTimeout,
          stream: watched.make
        })
      )
    case "mysql":
      return Effect.map(load("mysql"), ({ MysqlClient }) =>
        // The client ignores `poolConfig` when given `url`; mysql2 reads the URL from `poolConfig.uri`
        // instead, so the connect timeout applies. mysql2 closes idle connections (after
        // `connectionTTL`) only when `maxIdle` is below the pool size; it connects a given `stream`
        // never, and sets no keep-alive on it: the factory does both.
        MysqlClient.make({
          maxConnections: poolSize,
          connectionTTL: idleTimeout,
          poolConfig: {
            uri: url.replace(/^mariadb:/i, "mysql:"),
            connectTimeout: Duration.toMillis(connectTimeout),
            maxIdle: poolSize - 1,
            queueLimit: poolSize * queuedPerConnection,
            stream: ({ config }: MysqlStreamOptions) =>
              config.socketPath === undefined
                ? watched.make().connect(config.port, config.host)
                : watched.make().connect(config.socketPath)
          }
        })
      )
    case "sqlite":
      return Effect.map(load("sqlite"), ({ SqliteClient }) =>
        // The client caches prepared statements, and a statement that failed to prepare (a table not yet
        // migrated) too: a short time to live lets the stores work within seconds of `effect-auth migrate`.
        SqliteClient.make({ filename: url.slice("sqlite:".length), prepareCacheTTL: "5 seconds" })
      )
  }
}

/**
 * The `SqlClient` for a database URL. PostgreSQL and MySQL open a pool of up to `poolSize` connections
 * and run `SELECT 1` when the layer is built: a database unreachable at start-up fails the layer within
 * `connectTimeout` with a message that names the URL without its password. Once running, a database
 * that goes away fails the store queries (503) until it is back; the layer needs no rebuilding.
 *
 * A connection the network silently lost (a failover, a firewall or NAT dropping its state: its bytes
 * vanish while new connections work) is destroyed once silent for `socketTimeout` (default 10 seconds),
 * and the pool opens fresh ones: requests fail at most that long (plus the query timeout), not until the
 * kernel gives up. Idle connections are closed after half of `socketTimeout`. Closing the layer waits at
 * most a second for the connections to close, then destroys them.
 *
 * @example
 * ```ts
 * import { SqlDatabase } from "@effect-auth/sql"
 * import { Redacted } from "effect"
 *
 * const Database = SqlDatabase.layer({
 *   url: Redacted.make("postgres://auth:s3cret@db.internal:5432/auth"),
 *   poolSize: 20,
 *   connectTimeout: "3 seconds",
 *   socketTimeout: "10 seconds"
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<SqlClient.SqlClient, ConfigError.ConfigError | SqlError> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const settings = yield* settingsOf(options)
      const watched = sockets(settings.socketTimeout)
      const make = yield* client(settings, watched)
      // Scheduled, not awaited: the driver closes its pool meanwhile, and a connection left after the
      // grace is one that cannot answer.
      const destroyLeftovers = Effect.sync(() => {
        setTimeout(watched.destroyAll, Duration.toMillis(shutdownGrace)).unref()
      })
      const sql = yield* make.pipe(
        Effect.catchAllDefect((defect) => Effect.fail(defect)),
        Effect.timeoutFail({
          duration: settings.connectTimeout,
          onTimeout: () => new Error(`no answer within ${Duration.format(settings.connectTimeout)}`)
        }),
        Effect.tapErrorCause(() => destroyLeftovers),
        Effect.mapError((error) => connectFailure(settings.dialect, settings.url, error))
      )
      // Added after the client's, so it runs before the client closes its pool.
      yield* Effect.addFinalizer(() => destroyLeftovers)
      yield* Effect.logInfo(`SQL database: ${settings.dialect} at ${redactUrl(settings.url)}`)
      return Context.make(SqlClient.SqlClient, sql)
    })
  ).pipe(Layer.provide(Reactivity.layer))

/**
 * The configuration {@link layerConfig} reads: `AUTH_DATABASE_URL` (required, kept redacted),
 * `AUTH_DATABASE_POOL_SIZE` (1 to 100, default 10), `AUTH_DATABASE_CONNECT_TIMEOUT` (a duration such
 * as `"5 seconds"`, default 5 seconds) and `AUTH_DATABASE_SOCKET_TIMEOUT` (at least 3 seconds, default
 * 10 seconds).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  url: Config.redacted("AUTH_DATABASE_URL"),
  poolSize: Config.integer("AUTH_DATABASE_POOL_SIZE").pipe(
    Config.validate({
      message: `Expected an integer from 1 to ${maxPoolSize}`,
      validation: (size) => size >= 1 && size <= maxPoolSize
    }),
    Config.withDefault(defaultPoolSize)
  ),
  connectTimeout: Config.duration("AUTH_DATABASE_CONNECT_TIMEOUT").pipe(Config.withDefault(defaultConnectTimeout)),
  socketTimeout: Config.duration("AUTH_DATABASE_SOCKET_TIMEOUT").pipe(Config.withDefault(defaultSocketTimeout))
})

/**
 * {@link layer} configured from the environment (see {@link config}).
 *
 * @example
 * ```ts
 * import { SqlDatabase, SqlGrantStore } from "@effect-auth/sql"
 * import { Layer } from "effect"
 *
 * // AUTH_DATABASE_URL=postgres://auth:s3cret@db.internal:5432/auth
 * const Grants = SqlGrantStore.layer().pipe(Layer.provide(SqlDatabase.layerConfig))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<SqlClient.SqlClient, ConfigError.ConfigError | SqlError> = Layer.unwrapEffect(
  Effect.map(config, layer)
)

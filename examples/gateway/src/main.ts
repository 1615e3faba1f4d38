/**
 * Starts the gateway: reads the configuration, builds the authenticator from the configured providers
 * (or demo ones), and serves on HOST:PORT.
 */
import {
  ApiKey,
  ApiKeyFile,
  AuditLog,
  AuthConfig,
  Authenticator,
  BasicAuth,
  CredentialsRepository,
  PasswordHasher,
  RateLimit
} from "@effect-auth/core"
import { RoutePolicy } from "@effect-auth/http"
import { JwtProvider } from "@effect-auth/jwt"
import { SqlDatabase } from "@effect-auth/sql"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Fs from "node:fs/promises"
import * as Http from "node:http"
import * as Path from "node:path"
import * as Bearer from "./Bearer.js"
import * as Database from "./Database.js"
import * as Demo from "./Demo.js"
import * as GatewayConfig from "./GatewayConfig.js"
import * as Gateway from "./Gateway.js"

const defaultRoutes = RoutePolicy.compile([])

const loadRoutes = (file: Option.Option<string>) =>
  Option.match(file, {
    onNone: () => Effect.succeed(defaultRoutes),
    onSome: (path) =>
      Effect.tryPromise({
        try: () => Fs.readFile(path, "utf8"),
        catch: () => `cannot read AUTH_ROUTES_FILE ${path}`
      }).pipe(
        Effect.flatMap(RoutePolicy.parse),
        Effect.mapError((reason) => `AUTH_ROUTES_FILE ${path}: ${reason}`)
      )
  })

const program = (logLevel: LogLevel.LogLevel) =>
  Effect.gen(function* () {
    const config = yield* GatewayConfig.load
    if (config.unknownSet.length > 0) {
      yield* Effect.logWarning(`Unknown variables, ignored (a typo?): ${config.unknownSet.join(", ")}`)
    }
    const demoMode = config.providersSet.length === 0 && !config.authDisabled
    if (demoMode && config.production) {
      // Demo users with printed passwords must never appear because a variable was misspelt in production.
      return yield* Effect.fail("no identity provider is configured, and demo mode is refused when NODE_ENV=production")
    }
    if (config.jwtIssuer && !config.jwtAudience && config.production) {
      // Without an audience, a token the issuer made for any other application would open this gateway.
      return yield* Effect.fail(
        "AUTH_JWT_AUDIENCE is required when NODE_ENV=production: without it, tokens the issuer made for other applications are accepted"
      )
    }
    // One hasher for the demo users and the authenticator: its dummy hash is computed once.
    const hasher = Layer.succeed(PasswordHasher.PasswordHasher, yield* PasswordHasher.make())
    const demo = demoMode ? yield* Effect.provide(Demo.setup(Path.resolve(".demo")), hasher) : undefined
    const devIssuer = demoMode ? yield* Demo.startIssuer : undefined
    const usersFile = demo === undefined ? config.basicUsersFile : Option.none()
    const apiKeysFile = demo === undefined ? config.apiKeysFile : Option.some(demo.apiKeysFile)
    const routesFile = Option.orElse(config.routesFile, () => Option.fromNullable(demo?.routesFile))
    const routes = yield* loadRoutes(routesFile)

    if (config.orphanSettings.length > 0) {
      yield* Effect.logWarning(`Set without the provider they belong to, ignored: ${config.orphanSettings.join(", ")}`)
    }
    // AUTH_DATABASE_URL (or the demo's SQLite file): grants for every caller, and the users and keys that no
    // file is configured for. Building the layers opens nothing yet; the runtime below does, once.
    const database =
      demo !== undefined
        ? Database.stores(SqlDatabase.layer({ url: demo.databaseUrl }), Database.demoSettings)
        : config.database
          ? (yield* Database.fromConfig).stores
          : undefined
    const uses: Database.Uses = { users: Option.isNone(usersFile), apiKeys: Option.isNone(apiKeysFile) }
    if (database !== undefined) {
      yield* Effect.logInfo(`From the SQL database: ${Database.describeUses(uses)}`)
      if (Option.isSome(usersFile)) yield* Effect.logInfo("Basic users from AUTH_BASIC_USERS_FILE, not the database")
      if (Option.isSome(apiKeysFile)) yield* Effect.logInfo("API keys from AUTH_API_KEYS_FILE, not the database")
    }
    const users = Option.match(usersFile, {
      onNone: () => (database === undefined ? undefined : database.users),
      onSome: (path) => CredentialsRepository.layerFile(path)
    })
    // The key file is watched for the gateway's whole life: a key added or revoked counts within seconds.
    const keyStore = Option.match(apiKeysFile, {
      onNone: () => (database === undefined ? undefined : database.apiKeys),
      onSome: (path) => ApiKeyFile.layer(path, { watch: true })
    })

    const issuers = Bearer.issuers(config, devIssuer)
    // Bearer tokens first: the JWT provider takes only JWT-shaped tokens, Basic only Basic credentials,
    // and API keys last, only values of the key grammar (which has no dots, so never a JWT).
    const providers = [
      ...(issuers.length === 0 ? [] : [JwtProvider.provider(issuers)]),
      ...(users === undefined ? [] : [BasicAuth.provider()]),
      ...(keyStore === undefined ? [] : [ApiKey.provider()])
    ]
    if (providers.length === 0 && !config.authDisabled) {
      yield* Effect.logWarning("No identity provider is configured: every protected request will be refused")
    }
    // A bare `Authorization: <key>` is an API key, as the seed accepted it.
    const authLayer = Authenticator.layerConfig(providers, {
      credentials: { apiKeyHeader: config.apiKeyHeader, bareApiKey: true }
    }).pipe(
      Layer.provide([
        hasher,
        Bearer.httpClient,
        keyStore ?? Layer.succeed(ApiKey.ApiKeyStore, ApiKey.makeMemory([])),
        users ?? CredentialsRepository.layerMemory([]),
        database?.grants ?? Layer.empty
      ])
    )
    const runtime = ManagedRuntime.make(
      Layer.mergeAll(authLayer, RateLimit.layerConfig, AuditLog.layerConfig(), Logger.minimumLogLevel(logLevel))
    )
    // Build the authenticator now: bad configuration stops the start instead of failing every request, and
    // so does a database that cannot be reached or has no schema (a mid-run outage gives 503s instead).
    // Key endpoints are not contacted here: an issuer that is down at start-up gives 503s, not a failed start.
    const services = yield* Effect.mapError(runtime.runtimeEffect, String)

    const server = Http.createServer(
      { requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 32 * 1024 },
      Gateway.listener({
        runtime,
        routes,
        errorStyle: config.errorStyle,
        rateLimit: Context.get(services.context, RateLimit.RateLimit),
        audit: Context.get(services.context, AuditLog.AuditLog),
        proxy: Option.match(config.upstreamUrl, {
          onNone: () => undefined,
          onSome: (upstream) => ({
            upstream,
            credentialHeaders: ["authorization", config.apiKeyHeader.toLowerCase()],
            timeoutMillis: 30_000
          })
        })
      })
    )
    yield* Effect.async<void, string>((resume) => {
      const onError = (error: Error) =>
        resume(Effect.fail(`cannot listen on ${config.host}:${config.port}: ${error.message}`))
      server.once("error", onError)
      server.listen(config.port, config.host, () => {
        server.off("error", onError)
        resume(Effect.void)
      })
    })
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : config.port
    const baseUrl = `http://${config.host}:${port}`
    if (demo !== undefined && devIssuer !== undefined) console.log(Demo.banner(demo, devIssuer, baseUrl))
    // Always printed, whatever the log level, and last: it is how a person (or a script) learns the
    // address, and that everything above it is ready.
    console.log(`effect-auth gateway listening on ${baseUrl}`)

    const stop = () => {
      server.close()
      server.closeAllConnections()
      void runtime.dispose()
      void devIssuer?.issuer.close()
    }
    process.once("SIGINT", stop)
    process.once("SIGTERM", stop)
  })

const exitWith = (reason: string) => {
  console.error(`effect-auth gateway cannot start: ${reason}`)
  process.exit(1)
}

// The log level applies to start-up messages too, not only to requests.
Effect.runPromise(
  Effect.flatMap(AuthConfig.logLevel, (level) => Logger.withMinimumLogLevel(program(level), level)).pipe(
    Effect.catchAll((error) => Effect.sync(() => exitWith(String(error))))
  )
).catch((error: unknown) => exitWith(String(error)))

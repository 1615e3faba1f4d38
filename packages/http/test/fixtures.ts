/**
 * Shared pieces of the http tests: two in-test identity providers (Bearer from a fixed token map,
 * Basic with one fixed user), the authenticator built from them, real 127.0.0.1 servers on port 0,
 * and small clients (global `fetch`, and `node:http` for what fetch cannot send).
 */
import type { AuthProvider } from "@effect-auth/core"
import { AuthError, Authenticator, Credential, Identity } from "@effect-auth/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"

// Tokens and passwords are distinctive, so a body that echoed one would be caught by `not.toContain`.
export const adminToken = "tok-admin-4f9c2e1b7a"
export const userToken = "tok-user-8d3a6b0c5e"
export const unknownToken = "tok-unknown-1e7f9a2c4b"
export const basicUser = "carol"
// A colon in the password: Basic splits user from password on the first colon only.
export const basicPassword = "pa55:word-7c1d9e"
export const wrongPassword = "wrong-password-3b8f0a"

const identities: ReadonlyMap<string, Identity.Identity> = new Map([
  [adminToken, Identity.make({ id: "alice", kind: "user", provider: "test-bearer", claims: { groups: ["admin"] } })],
  [userToken, Identity.make({ id: "bob", kind: "user", provider: "test-bearer", claims: { groups: ["staff"] } })]
])

/** Accepts Bearer tokens from a fixed map; any other token is rejected. */
export const bearerProvider: AuthProvider.AuthProvider = {
  name: "test-bearer",
  accepts: Credential.is("Bearer"),
  authenticate: (credential) => {
    const identity = credential._tag === "Bearer" ? identities.get(Redacted.value(credential.token)) : undefined
    return identity === undefined
      ? Effect.fail(new AuthError.InvalidCredentials({ reason: "rejected", scheme: "Bearer" }))
      : Effect.succeed(identity)
  },
  challenge: { scheme: "Bearer", realm: "api" }
}

/** Accepts Basic for one fixed user and password. */
export const basicProvider: AuthProvider.AuthProvider = {
  name: "test-basic",
  accepts: Credential.is("Basic"),
  authenticate: (credential) =>
    credential._tag === "Basic" &&
    credential.username === basicUser &&
    Redacted.value(credential.password) === basicPassword
      ? Effect.succeed(
          Identity.make({ id: basicUser, kind: "user", provider: "test-basic", claims: { groups: ["ops"] } })
        )
      : Effect.fail(new AuthError.InvalidCredentials({ reason: "rejected", scheme: "Basic" })),
  challenge: { scheme: "Basic", realm: "test" }
}

export const AuthLive = Authenticator.layer([Effect.succeed(bearerProvider), Effect.succeed(basicProvider)])

/** The challenges `AuthLive` answers a 401 with, in provider order. */
export const expectedChallenge = 'Bearer realm="api", Basic realm="test", charset="UTF-8"'

export const bearer = (token: string) => `Bearer ${token}`
export const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`

/** A `ManagedRuntime` for the node/fetch adapters, disposed with the scope. */
export const runtime = <ER>(
  layer: Layer.Layer<Authenticator.Authenticator, ER> = AuthLive
): Effect.Effect<ManagedRuntime.ManagedRuntime<Authenticator.Authenticator, ER>, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => ManagedRuntime.make(layer)),
    (runtime) => Effect.promise(() => runtime.dispose())
  )

/** An Authenticator layer that cannot be built (as with bad configuration). */
export const brokenLayer: Layer.Layer<Authenticator.Authenticator, string> = Layer.fail("no authenticator configured")

/** An authenticator whose provider dies (a bug in the provider, not a refusal). */
export const dyingLayer = Authenticator.layer([
  Effect.succeed<AuthProvider.AuthProvider>({
    ...bearerProvider,
    authenticate: () => Effect.die(new Error("provider bug"))
  })
])

/**
 * An authenticator whose provider never answers: `started` completes when it is asked to authenticate,
 * `interrupted` when that work is interrupted.
 */
export const hangingAuthenticator = Effect.gen(function* () {
  const started = yield* Deferred.make<void>()
  const interrupted = yield* Deferred.make<void>()
  const provider: AuthProvider.AuthProvider = {
    ...bearerProvider,
    authenticate: () =>
      Deferred.succeed(started, undefined).pipe(
        Effect.zipRight(Effect.never),
        Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
      )
  }
  return { layer: Authenticator.layer([Effect.succeed(provider)]), started, interrupted }
})

/** Sends a request with fetch and aborts it once `abortWhen` completes; tells whether it got an answer first. */
export const abandon = (
  url: string,
  headers: Record<string, string>,
  abortWhen: Effect.Effect<void>
): Effect.Effect<"answered" | "aborted"> =>
  Effect.gen(function* () {
    const controller = new AbortController()
    const pending = fetch(url, { headers, signal: controller.signal }).then(
      () => "answered" as const,
      () => "aborted" as const
    )
    yield* abortWhen
    controller.abort()
    return yield* Effect.promise(() => pending)
  })

/** Starts a `node:http` server on an ephemeral port of 127.0.0.1; closed with the scope. Returns its base URL. */
export const listen = (
  listener: Http.RequestListener,
  options: Http.ServerOptions = {}
): Effect.Effect<string, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.async<Http.Server>((resume) => {
        const server = Http.createServer(options, listener)
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    ),
    (server) => {
      const address = server.address()
      if (address === null || typeof address === "string") throw new Error("server is not listening on TCP")
      return `http://127.0.0.1:${address.port}`
    }
  )

export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly body: string
}

/** Calls `url` with the global fetch and reads the whole answer; fails the test rather than hang. */
export const get = (url: string, headers: Record<string, string> = {}): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) })
    return { status: response.status, headers: response.headers, body: await response.text() }
  })

/**
 * Sends a GET with `node:http`, which (unlike fetch, which joins them) can send a header several times:
 * each `[name, value]` pair is written as its own header line.
 */
export const rawGet = (url: string, headers: ReadonlyArray<readonly [string, string]>): Effect.Effect<Answer> =>
  Effect.async<Answer>((resume) => {
    const request = Http.request(url, { method: "GET", timeout: 10_000 }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => {
        const out = new Headers()
        for (let i = 0; i + 1 < response.rawHeaders.length; i += 2) {
          out.append(response.rawHeaders[i]!, response.rawHeaders[i + 1]!)
        }
        resume(
          Effect.succeed({ status: response.statusCode ?? 0, headers: out, body: Buffer.concat(chunks).toString() })
        )
      })
    })
    const grouped = new Map<string, Array<string>>()
    for (const [name, value] of headers) grouped.set(name, [...(grouped.get(name) ?? []), value])
    for (const [name, values] of grouped) request.setHeader(name, values)
    request.on("timeout", () => request.destroy(new Error("timed out")))
    request.on("error", (error) => resume(Effect.die(error)))
    request.end()
  })

/** The `application/problem+json` body of an error answer. */
export interface Problem {
  readonly type: string
  readonly title: string
  readonly status: number
  readonly detail: string
  readonly code: string
  readonly reason?: string
}

export const problem = (answer: Answer): Problem => JSON.parse(answer.body)

/** The OpenAI-compatible body of an error answer. */
export interface OpenAiError {
  readonly error: {
    readonly message: string
    readonly type: string
    readonly param: string | null
    readonly code: string
  }
}

export const openAiError = (answer: Answer): OpenAiError => JSON.parse(answer.body)

/**
 * `@effect/platform` `HttpApi` security: a ready `HttpApiMiddleware` (`Authentication`) whose security
 * schemes are Bearer, Basic and an `X-API-Key` header, so the OpenAPI document lists all three; it
 * provides `Authenticated` to the handlers and fails with schema'd errors (401, 403, 429, 503) whose
 * bodies and headers (`WWW-Authenticate`, `Retry-After`) are those of the shared `ErrorResponse` mapping.
 *
 * The platform's own credential decoding is lax (it takes any `Authorization` value as a Bearer token and
 * splits Basic on every `:`), so every security handler ignores the value it is given and authenticates
 * the raw request headers with the `Authenticator`, exactly as every other adapter does.
 *
 * @since 0.1.0
 */
import type { AuthProvider, Policy, Principal } from "@effect-auth/core"
import { AuthError, Authenticated, Authenticator, RateLimit } from "@effect-auth/core"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as OpenApi from "@effect/platform/OpenApi"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as ErrorResponse from "./ErrorResponse.js"
import * as HttpAuthMiddleware from "./HttpAuthMiddleware.js"
import * as Authorize from "./internal/authorize.js"

// The RFC 9457 body `ErrorResponse` writes (style "problem"), field for field. The status is a literal, so
// the classes differ in structure too: a union of classes matches by structure, not only by instance.
const problem = <Status extends number>(status: Status) => ({
  type: Schema.String,
  title: Schema.String,
  status: Schema.Literal(status),
  detail: Schema.String,
  code: Schema.String,
  reason: Schema.optional(Schema.String)
})

/**
 * 401: no credential, or one that was refused. Sent with `WWW-Authenticate`.
 *
 * @since 0.1.0
 */
export class Unauthorized extends Schema.Class<Unauthorized>("Unauthorized")(
  problem(401),
  HttpApiSchema.annotations({ status: 401, description: "No credentials, or credentials that were refused" })
) {}

/**
 * 403: authenticated, but not allowed.
 *
 * @since 0.1.0
 */
export class Forbidden extends Schema.Class<Forbidden>("Forbidden")(
  problem(403),
  HttpApiSchema.annotations({ status: 403, description: "The caller is not allowed to perform this request" })
) {}

/**
 * 429: over the rate limit. Sent with `Retry-After`.
 *
 * @since 0.1.0
 */
export class TooManyRequests extends Schema.Class<TooManyRequests>("TooManyRequests")(
  problem(429),
  HttpApiSchema.annotations({ status: 429, description: "Too many requests" })
) {}

/**
 * 503: a dependency of authentication (an issuer's keys, a database, a rate limit store) cannot answer.
 * Sent with `Retry-After`.
 *
 * @since 0.1.0
 */
export class ServiceUnavailable extends Schema.Class<ServiceUnavailable>("ServiceUnavailable")(
  problem(503),
  HttpApiSchema.annotations({ status: 503, description: "Authentication is unavailable" })
) {}

/**
 * Every answer the middleware (and {@link authorize}) may fail with, one class per status.
 *
 * @since 0.1.0
 */
export const Failure = Schema.Union(Unauthorized, Forbidden, TooManyRequests, ServiceUnavailable)

/**
 * @since 0.1.0
 */
export type Failure = typeof Failure.Type

/**
 * The security schemes of {@link Authentication}: Bearer, Basic and an `X-API-Key` header (the header the
 * credential parser reads by default). Use them in your own `HttpApiMiddleware.Tag` with {@link handlers}.
 *
 * @since 0.1.0
 */
export const security = {
  bearer: HttpApiSecurity.bearer.pipe(
    HttpApiSecurity.annotate(OpenApi.Description, "A JWT from a trusted issuer, or an API key")
  ),
  basic: HttpApiSecurity.basic.pipe(HttpApiSecurity.annotate(OpenApi.Description, "User name and password")),
  apiKey: HttpApiSecurity.apiKey({ key: "X-API-Key", in: "header" }).pipe(
    HttpApiSecurity.annotate(OpenApi.Description, "An API key")
  )
} as const

/**
 * The middleware: add it to a group (`HttpApiGroup.middleware(HttpApiAuth.Authentication)`) and provide
 * {@link layer}; handlers of that group may then use `Authenticated` and guards.
 *
 * @example
 * ```ts
 * import { HttpApiAuth } from "@effect-auth/http"
 * import { Authenticated } from "@effect-auth/core"
 * import { HttpApiEndpoint, HttpApiGroup, HttpApi } from "@effect/platform"
 * import { Schema } from "effect"
 *
 * class Me extends HttpApiGroup.make("me")
 *   .add(HttpApiEndpoint.get("whoami", "/whoami").addSuccess(Schema.String))
 *   .middleware(HttpApiAuth.Authentication) {}
 * class Api extends HttpApi.make("api").add(Me) {}
 * ```
 *
 * @since 0.1.0
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("@effect-auth/http/HttpApiAuth", {
  provides: Authenticated.Authenticated,
  failure: Failure,
  security
}) {}

/**
 * What every request must also satisfy: a policy (default: any authenticated caller), and whether each
 * authenticated caller is counted against the `RateLimit` service, by principal id.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly policy?: Policy.Policy | undefined
  readonly rateLimit?: boolean | undefined
}

/**
 * The services the middleware needs for these options: the `Authenticator`, and `RateLimit` when
 * `rateLimit` is on.
 *
 * @since 0.1.0
 */
export type Requirements<O extends Options> =
  Authenticator.Authenticator | (O extends { readonly rateLimit: true } ? RateLimit.RateLimit : never)

const rateLimitHeaders = (headers: Readonly<Record<string, string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase().startsWith("x-ratelimit-")))

/**
 * The schema'd failure for an auth error, answered through the shared mapping: the response the platform
 * makes for it is replaced by the mapping's own (same body, plus `WWW-Authenticate`, `Retry-After`,
 * `Cache-Control: no-store` and the `application/problem+json` type). Only a response with the failure's
 * status is replaced, so an app that turns the failure into another answer keeps its answer.
 *
 * @since 0.1.0
 */
export const fail = (
  error: AuthError.AuthError,
  options: { readonly challenges?: ReadonlyArray<AuthProvider.Challenge> | undefined } = {}
): Effect.Effect<never, Failure> => {
  const answer = ErrorResponse.fromFailure(error, { challenges: options.challenges })
  const extra = error._tag === "RateLimited" ? RateLimit.headers(error) : {}
  const failure = Schema.decodeUnknownSync(Failure)(JSON.parse(answer.body))
  return Effect.zipRight(
    HttpApp.appendPreResponseHandler((_request, response) =>
      Effect.succeed(
        response.status === answer.status
          ? HttpServerResponse.setHeaders(HttpAuthMiddleware.toResponse(answer), {
              // A guard's refusal comes after the rate limit counted the request: keep its headers.
              ...rateLimitHeaders(response.headers),
              ...extra
            })
          : response
      )
    ),
    Effect.fail(failure)
  )
}

/**
 * Runs a guard (or any effect failing with auth errors) inside a handler, turning its auth errors into
 * {@link Failure}s, so a `Guard.requireGroups` refusal is answered 403 like everywhere else. The
 * `WWW-Authenticate` of a 403 names the `Authenticator`'s Bearer realm when one is in context.
 *
 * @example
 * ```ts
 * import { HttpApiAuth } from "@effect-auth/http"
 * import { Guard } from "@effect-auth/core"
 * import { Effect } from "effect"
 *
 * const report = Effect.gen(function* () {
 *   const admin = yield* HttpApiAuth.authorize(Guard.requireGroups(["admin"]))
 *   return `report for ${admin.id}`
 * })
 * ```
 *
 * @since 0.1.0
 */
export const authorize = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, Extract<E, AuthError.AuthError>> | Failure, R> =>
  Effect.catchIf(
    effect,
    (error): error is Extract<E, AuthError.AuthError> => AuthError.isAuthError(error),
    (error) =>
      Effect.flatMap(Effect.serviceOption(Authenticator.Authenticator), (authenticator) =>
        fail(error, { challenges: Option.match(authenticator, { onNone: () => [], onSome: (a) => a.challenges }) })
      )
  )

type Handler = (credential: unknown) => Effect.Effect<Principal.Principal, Failure, HttpServerRequest.HttpServerRequest>

/**
 * The security handlers for {@link security}'s schemes, for `Layer.effect(YourTag, handlers(options))`.
 * Each authenticates the request's raw headers, whatever the platform decoded: a `Bearer` value sent under
 * another scheme, or a Basic password containing `:`, is read exactly as by the other adapters. The work is
 * done once per request: the platform tries the schemes in turn after a failure, and the later ones get
 * the first one's answer instead of asking the providers (and the rate limit) again.
 *
 * @since 0.1.0
 */
export const handlers = <const O extends Options = Options>(
  options?: O
): Effect.Effect<
  { readonly bearer: Handler; readonly basic: Handler; readonly apiKey: Handler },
  never,
  Requirements<O>
> =>
  Effect.gen(function* () {
    const authenticator = yield* Authenticator.Authenticator
    const rateLimit = options?.rateLimit === true ? yield* RateLimit.RateLimit : undefined
    const results = new WeakMap<HttpServerRequest.HttpServerRequest, Exit.Exit<Principal.Principal, Failure>>()

    const count = (principal: Principal.Principal) =>
      rateLimit === undefined
        ? Effect.void
        : Effect.flatMap(rateLimit.consume(principal.id), (decision) =>
            HttpApp.appendPreResponseHandler((_request, response) =>
              Effect.succeed(HttpServerResponse.setHeaders(response, RateLimit.headers(decision)))
            )
          )

    const run = (request: HttpServerRequest.HttpServerRequest) =>
      Authorize.authenticateAndCheck(authenticator, HttpAuthMiddleware.headersOf(request), options?.policy).pipe(
        Effect.tap(count),
        Effect.catchAll((error) => fail(error, { challenges: authenticator.challenges }))
      )

    const authenticate: Handler = () =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const known = results.get(request)
        if (known !== undefined) return known
        return Effect.flatMap(Effect.exit(run(request)), (exit) => {
          results.set(request, exit)
          return exit
        })
      })

    return { bearer: authenticate, basic: authenticate, apiKey: authenticate }
  }) as Effect.Effect<
    { readonly bearer: Handler; readonly basic: Handler; readonly apiKey: Handler },
    never,
    Requirements<O>
  >

/**
 * The {@link Authentication} middleware's implementation.
 *
 * @example
 * ```ts
 * import { HttpApiAuth } from "@effect-auth/http"
 * import { RateLimit } from "@effect-auth/core"
 * import { Layer } from "effect"
 *
 * const AuthenticationLive = HttpApiAuth.layer({ rateLimit: true }).pipe(
 *   Layer.provide(RateLimit.layerMemory({ limit: 100 }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = <const O extends Options = Options>(
  options?: O
): Layer.Layer<Authentication, never, Requirements<O>> =>
  Layer.effect(
    Authentication,
    Effect.map(handlers(options), (record): Context.Tag.Service<Authentication> => record)
  )

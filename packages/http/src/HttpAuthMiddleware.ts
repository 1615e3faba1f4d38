/**
 * `@effect/platform` middleware: authenticates each request, answers failures with the shared mapping,
 * and provides `Authenticated` to the wrapped app, removing it from the app's requirements. Auth errors
 * the app itself fails with (a guard's `Forbidden`, a lookup's `ProviderUnavailable`) are answered the
 * same way and removed from its error channel.
 *
 * @since 0.1.0
 */
import type { Credential } from "@effect-auth/core"
import { AuthError, Authenticated, Authenticator } from "@effect-auth/core"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ErrorResponse from "./ErrorResponse.js"
import * as Authorize from "./internal/authorize.js"

/**
 * A policy every request must satisfy (default: any authenticated caller) and the error style.
 *
 * @since 0.1.0
 */
export type Options = Authorize.Options

/**
 * The error answer as a platform response.
 *
 * @since 0.1.0
 */
export const toResponse = (answer: ErrorResponse.ErrorResponse): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(answer.body, {
    status: answer.status,
    headers: answer.headers,
    contentType: answer.headers["content-type"]
  })

/**
 * The request's headers for the credential parser. On node, the platform's headers come from
 * `IncomingMessage.headers`, which keeps only the first `Authorization`; the source's `headersDistinct`
 * keeps them all, so a request with two is refused instead of authenticated as the first.
 *
 * @since 0.1.0
 */
export const headersOf = (request: HttpServerRequest.HttpServerRequest): Credential.Headers => {
  const source = request.source
  if (typeof source === "object" && source !== null && "headersDistinct" in source) {
    const distinct = source.headersDistinct
    if (typeof distinct === "object" && distinct !== null) return distinct as Credential.Headers
  }
  return request.headers
}

/**
 * The middleware.
 *
 * @example
 * ```ts
 * import { HttpAuthMiddleware } from "@effect-auth/http"
 * import { Authenticated } from "@effect-auth/core"
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const app = Effect.map(Authenticated.Authenticated, (principal) => HttpServerResponse.text(principal.id))
 * const secured = HttpAuthMiddleware.make()(app) // requires Authenticator instead of Authenticated
 * ```
 *
 * @since 0.1.0
 */
export const make =
  (options: Options = {}) =>
  <E, R>(
    app: HttpApp.Default<E, R>
  ): HttpApp.Default<
    Exclude<E, Extract<E, AuthError.AuthError>>,
    Exclude<R, Authenticated.Authenticated> | Authenticator.Authenticator | HttpServerRequest.HttpServerRequest
  > =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const authenticator = yield* Authenticator.Authenticator
      const answer = (error: AuthError.AuthError) =>
        toResponse(
          ErrorResponse.fromFailure(error, { style: options.errorStyle, challenges: authenticator.challenges })
        )
      const principal = yield* Effect.either(
        Authorize.authenticateAndCheck(authenticator, headersOf(request), options.policy)
      )
      if (Either.isLeft(principal)) return answer(principal.left)
      // Guards inside the app fail with the same errors: they get the same answers (403, 503), not a 500.
      return yield* app.pipe(
        Effect.provideService(Authenticated.Authenticated, principal.right),
        Effect.catchIf(
          (error): error is Extract<E, AuthError.AuthError> => AuthError.isAuthError(error),
          (error) => Effect.succeed(answer(error))
        )
      )
    })

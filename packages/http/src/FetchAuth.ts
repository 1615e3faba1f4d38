/**
 * Authentication for fetch-style handlers, `(Request) => Promise<Response>` (Deno, Bun, Cloudflare-style
 * runtimes, Hono, Next.js route handlers, undici servers).
 *
 * @since 0.1.0
 */
import type { Principal } from "@effect-auth/core"
import { Credential } from "@effect-auth/core"
import * as ErrorResponse from "./ErrorResponse.js"
import * as Authorize from "./internal/authorize.js"

/**
 * A `ManagedRuntime` whose layer provides the `Authenticator`. Build it once per app.
 *
 * @since 0.1.0
 */
export type AuthRuntime = Authorize.AuthRuntime

/**
 * A policy every request must satisfy (default: any authenticated caller) and the error style.
 *
 * @since 0.1.0
 */
export type Options = Authorize.Options

/**
 * Authenticates a request: the principal, or the error answer. Never rejects. The request's own
 * `signal` interrupts the work when the client goes away.
 *
 * @since 0.1.0
 */
export const authorize = (runtime: AuthRuntime, request: Request, options: Options = {}): Promise<Authorize.Outcome> =>
  Authorize.authorize(runtime, Credential.headersFromWeb(request.headers), { ...options, signal: request.signal })

/**
 * The error answer as a fetch `Response`.
 *
 * @since 0.1.0
 */
export const toResponse = (answer: ErrorResponse.ErrorResponse): Response =>
  new Response(answer.body, { status: answer.status, headers: answer.headers })

/**
 * A fetch handler that runs `handle` only for callers that authenticate (and pass `options.policy`).
 *
 * @example
 * ```ts
 * import { FetchAuth } from "@effect-auth/http"
 *
 * declare const runtime: FetchAuth.AuthRuntime
 * const fetchHandler = FetchAuth.handler(runtime, (_request, principal) => Response.json({ id: principal.id }))
 * ```
 *
 * @since 0.1.0
 */
export const handler =
  (
    runtime: AuthRuntime,
    handle: (request: Request, principal: Principal.Principal) => Response | Promise<Response>,
    options: Options = {}
  ): ((request: Request) => Promise<Response>) =>
  async (request) => {
    const outcome = await authorize(runtime, request, options)
    if (outcome._tag === "Refused") return toResponse(outcome.response)
    try {
      return await handle(request, outcome.principal)
    } catch {
      // Same as NodeHttpAuth: a handler that throws is a 500, never an unhandled rejection.
      return toResponse(ErrorResponse.fromFailure("internal", { style: options.errorStyle }))
    }
  }

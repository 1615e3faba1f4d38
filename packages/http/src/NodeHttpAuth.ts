/**
 * Authentication for `node:http` servers: wrap a request listener so it only runs for authenticated
 * (and, with a policy, authorized) callers, with the principal passed in.
 *
 * @since 0.1.0
 */
import type { Credential, Principal } from "@effect-auth/core"
import type * as Http from "node:http"
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
 * The headers as the credential parser wants them. `headersDistinct` keeps repeated `Authorization`
 * headers (plain `headers` silently drops all but the first), so duplicates can be refused.
 *
 * @since 0.1.0
 */
export const headersOf = (request: Http.IncomingMessage): Credential.Headers => request.headersDistinct

/**
 * Authenticates a request: the principal, or the error answer to send. Never rejects.
 *
 * @since 0.1.0
 */
export const authorize = (
  runtime: AuthRuntime,
  request: Http.IncomingMessage,
  options: Options = {}
): Promise<Authorize.Outcome> => Promise.resolve(authorizeNow(runtime, request, options))

/** The outcome, synchronously when authentication finished so; a client that goes away interrupts the rest. */
const authorizeNow = (
  runtime: AuthRuntime,
  request: Http.IncomingMessage,
  options: Options
): Authorize.Outcome | Promise<Authorize.Outcome> =>
  Authorize.authorizeNow(runtime, headersOf(request), {
    ...options,
    onAbort: (interrupt) => {
      request.once("close", interrupt)
      return () => request.off("close", interrupt)
    }
  })

/**
 * Sends an error answer.
 *
 * @since 0.1.0
 */
export const sendError = (response: Http.ServerResponse, answer: ErrorResponse.ErrorResponse): void => {
  if (response.headersSent) {
    response.destroy()
    return
  }
  response.writeHead(answer.status, answer.headers).end(answer.body)
}

/**
 * A listener that runs `handler` only for callers that authenticate (and pass `options.policy`);
 * everyone else gets the mapped 401/403/429/503 answer.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http"
 * import { NodeHttpAuth } from "@effect-auth/http"
 *
 * declare const runtime: NodeHttpAuth.AuthRuntime
 * createServer(
 *   NodeHttpAuth.handler(runtime, (_req, res, principal) => {
 *     res.end(`hello ${principal.id}`)
 *   })
 * ).listen(8080)
 * ```
 *
 * @since 0.1.0
 */
export const handler =
  (
    runtime: AuthRuntime,
    handle: (
      request: Http.IncomingMessage,
      response: Http.ServerResponse,
      principal: Principal.Principal
    ) => void | Promise<void>,
    options: Options = {}
  ): Http.RequestListener =>
  (request, response) => {
    // A handler that throws (or rejects) must not leave the socket hanging.
    const internal = () => sendError(response, ErrorResponse.fromFailure("internal", { style: options.errorStyle }))
    const answer = (outcome: Authorize.Outcome): void => {
      if (outcome._tag === "Refused") return sendError(response, outcome.response)
      try {
        const handled = handle(request, response, outcome.principal)
        if (handled !== undefined) Promise.resolve(handled).catch(internal)
      } catch {
        internal()
      }
    }
    try {
      const outcome = authorizeNow(runtime, request, options)
      if (outcome instanceof Promise) outcome.then(answer).catch(internal)
      else answer(outcome)
    } catch {
      internal()
    }
  }

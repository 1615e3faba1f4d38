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
): Promise<Authorize.Outcome> => {
  // A client that goes away interrupts the authentication work it started.
  const abort = new AbortController()
  const onClose = () => abort.abort()
  request.once("close", onClose)
  return Authorize.authorize(runtime, headersOf(request), { ...options, signal: abort.signal }).finally(() =>
    request.off("close", onClose)
  )
}

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
    authorize(runtime, request, options)
      .then((outcome) =>
        outcome._tag === "Allowed"
          ? handle(request, response, outcome.principal)
          : sendError(response, outcome.response)
      )
      // A handler that throws must not leave the socket hanging.
      .catch(() => sendError(response, ErrorResponse.fromFailure("internal", { style: options.errorStyle })))
  }

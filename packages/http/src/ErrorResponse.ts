/**
 * The one mapping from effect-auth errors to HTTP answers: status, headers (`WWW-Authenticate`,
 * `Retry-After`) and a body, either RFC 9457 problem+json or the OpenAI-compatible error shape.
 * Every adapter (node:http, fetch, @effect/platform) answers through this module. Bodies are built from
 * the errors' fixed messages, so they never contain a token, password or key.
 *
 * @since 0.1.0
 */
import type { AuthError, AuthProvider } from "@effect-auth/core"

/**
 * `problem`: `application/problem+json` (RFC 9457). `openai`: `{"error":{"message","type","param","code"}}`.
 *
 * @since 0.1.0
 */
export type ErrorStyle = "problem" | "openai"

/**
 * A framework-neutral HTTP answer.
 *
 * @since 0.1.0
 */
export interface ErrorResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/**
 * @since 0.1.0
 */
export interface Options {
  readonly style?: ErrorStyle | undefined
  /** The authenticator's challenges, for `WWW-Authenticate` on 401. */
  readonly challenges?: ReadonlyArray<AuthProvider.Challenge> | undefined
}

/**
 * Anything an adapter can be asked to answer: an auth error, or `"internal"` for an unexpected defect
 * (answered 500 without details).
 *
 * @since 0.1.0
 */
export type Failure = AuthError.AuthError | "internal"

interface Shape {
  readonly status: number
  readonly title: string
  /** Problem `code` and OpenAI `code`. */
  readonly code: string
  readonly openaiType: string
  readonly reason: string | undefined
  readonly detail: string
}

const shape = (failure: Failure): Shape => {
  if (failure === "internal") {
    return {
      status: 500,
      title: "Internal Server Error",
      code: "internal_error",
      openaiType: "server_error",
      reason: undefined,
      detail: "The request could not be processed"
    }
  }
  switch (failure._tag) {
    case "MissingCredentials":
    case "InvalidCredentials":
      return {
        status: 401,
        title: "Unauthorized",
        code: failure._tag === "MissingCredentials" ? "missing_credentials" : "invalid_credentials",
        openaiType: "invalid_request_error",
        reason: failure.reason,
        detail: failure.message
      }
    case "InvalidToken":
      return {
        status: 401,
        title: "Unauthorized",
        code: "invalid_token",
        openaiType: "invalid_request_error",
        reason: failure.reason,
        detail: failure.message
      }
    case "Forbidden":
      return {
        status: 403,
        title: "Forbidden",
        code: "insufficient_scope",
        openaiType: "permission_error",
        reason: failure.reason,
        detail: failure.message
      }
    case "IncompleteGrants":
      // Authenticated, but what it may do cannot be decided from its credential: refused, with the reason.
      return {
        status: 403,
        title: "Forbidden",
        code: "incomplete_grants",
        openaiType: "permission_error",
        reason: failure.grant,
        detail: failure.message
      }
    case "RateLimited":
      return {
        status: 429,
        title: "Too Many Requests",
        code: "rate_limit_exceeded",
        openaiType: "rate_limit_error",
        reason: failure.reason,
        detail: failure.message
      }
    case "ProviderUnavailable":
      return {
        status: 503,
        title: "Service Unavailable",
        code: "provider_unavailable",
        openaiType: "server_error",
        reason: failure.reason,
        detail: failure.message
      }
  }
}

// The OpenAI API answers every credential problem with this code; clients branch on it.
const openaiCode = (failure: Failure, code: string): string =>
  failure !== "internal" && (failure._tag === "MissingCredentials" || failure._tag === "InvalidCredentials")
    ? "invalid_api_key"
    : code

const quote = (value: string) => `"${value.replace(/["\\]/g, "\\$&")}"`

const challengeHeader = (failure: Failure, challenges: ReadonlyArray<AuthProvider.Challenge>): string | undefined => {
  if (failure === "internal") return undefined
  const parts: Array<string> = []
  for (const challenge of challenges) {
    const realm = challenge.realm === undefined ? [] : [`realm=${quote(challenge.realm)}`]
    if (challenge.scheme === "Basic") {
      if (failure._tag !== "Forbidden") parts.push(`Basic ${[...realm, 'charset="UTF-8"'].join(", ")}`)
    } else if (challenge.scheme === "Bearer") {
      // RFC 6750 section 3.1: say why the token failed; no error code when no token was sent.
      const error =
        failure._tag === "InvalidToken"
          ? ['error="invalid_token"', `error_description=${quote(failure.message)}`]
          : failure._tag === "InvalidCredentials" && failure.scheme === "Bearer"
            ? // A token that was read but refused is invalid_token; one that could not be read, invalid_request.
              [failure.reason === "rejected" ? 'error="invalid_token"' : 'error="invalid_request"']
            : failure._tag === "Forbidden"
              ? ['error="insufficient_scope"']
              : []
      const params = [...realm, ...error]
      parts.push(params.length === 0 ? "Bearer" : `Bearer ${params.join(", ")}`)
    }
  }
  if (failure._tag === "Forbidden") {
    // Only Bearer defines a 403 challenge (insufficient_scope).
    const bearer = parts.filter((part) => part.startsWith("Bearer"))
    return bearer.length === 0 ? undefined : bearer.join(", ")
  }
  return failure._tag === "MissingCredentials" ||
    failure._tag === "InvalidCredentials" ||
    failure._tag === "InvalidToken"
    ? parts.length === 0
      ? undefined
      : parts.join(", ")
    : undefined
}

const retryAfterSeconds = (failure: Failure): number | undefined => {
  if (failure === "internal") return undefined
  if (failure._tag === "RateLimited") {
    const seconds = Math.ceil(failure.retryAfterMillis / 1000)
    return Number.isFinite(seconds) && seconds > 1 ? seconds : 1
  }
  if (failure._tag === "ProviderUnavailable") return 5
  return undefined
}

/**
 * The HTTP answer for a failure.
 *
 * @example
 * ```ts
 * import { ErrorResponse } from "@effect-auth/http"
 * import { AuthError } from "@effect-auth/core"
 *
 * const answer = ErrorResponse.fromFailure(new AuthError.MissingCredentials({ reason: "absent" }), {
 *   challenges: [{ scheme: "Bearer", realm: "api" }]
 * })
 * // answer.status === 401, answer.headers["www-authenticate"] === 'Bearer realm="api"'
 * ```
 *
 * @since 0.1.0
 */
export const fromFailure = (failure: Failure, options: Options = {}): ErrorResponse => {
  const s = shape(failure)
  const headers: Record<string, string> = {}
  const challenge = challengeHeader(failure, options.challenges ?? [])
  if (challenge !== undefined) headers["www-authenticate"] = challenge
  const retryAfter = retryAfterSeconds(failure)
  if (retryAfter !== undefined) headers["retry-after"] = String(retryAfter)
  return render(
    { ...s, code: options.style === "openai" ? openaiCode(failure, s.code) : s.code },
    options.style,
    headers
  )
}

/**
 * An answer in the same style for a failure that is not an auth error (a bad path, a missing route, an
 * unreachable upstream), so an app answers every error one way.
 *
 * @since 0.1.0
 */
export const fromStatus = (
  answer: { readonly status: number; readonly title: string; readonly code: string; readonly detail: string },
  style?: ErrorStyle | undefined
): ErrorResponse =>
  render(
    {
      ...answer,
      reason: undefined,
      openaiType: answer.status >= 500 ? "server_error" : "invalid_request_error"
    },
    style,
    {}
  )

const render = (s: Shape, style: ErrorStyle | undefined, extraHeaders: Record<string, string>): ErrorResponse => {
  const headers: Record<string, string> = { "cache-control": "no-store", ...extraHeaders }
  if (style === "openai") {
    headers["content-type"] = "application/json"
    const body = {
      error: { message: s.detail, type: s.openaiType, param: s.status === 401 ? "authorization" : null, code: s.code }
    }
    return { status: s.status, headers, body: JSON.stringify(body) }
  }
  headers["content-type"] = "application/problem+json"
  const body = {
    type: "about:blank",
    title: s.title,
    status: s.status,
    detail: s.detail,
    code: s.code,
    ...(s.reason === undefined ? {} : { reason: s.reason })
  }
  return { status: s.status, headers, body: JSON.stringify(body) }
}

/**
 * The one mapping from effect-auth errors to tRPC errors. The status comes from `ErrorResponse.fromFailure`
 * (the mapping every HTTP adapter uses), so a tRPC call answers 401, 403, 429 and 503 exactly where a
 * plain HTTP route would; `responseMeta` copies its `WWW-Authenticate` and `Retry-After` headers onto the
 * HTTP response. That holds for `httpLink` and `httpBatchLink`: `httpBatchStreamLink` and SSE send their
 * 200 before any procedure runs, so there only the tRPC code tells the outcome. Messages are the errors' fixed messages: never a token, password or key, and no `cause`.
 *
 * @since 0.1.0
 */
import type { AuthError, AuthProvider } from "@effect-auth/core"
import { ErrorResponse } from "@effect-auth/http"
import { TRPCError } from "@trpc/server"
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server"

const codes: Readonly<Record<number, TRPC_ERROR_CODE_KEY>> = {
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  429: "TOO_MANY_REQUESTS",
  503: "SERVICE_UNAVAILABLE"
}

/** What a client sees for an unexpected defect: nothing about it. */
const internalMessage = "The request could not be processed"

/**
 * A `TRPCError` made from an effect-auth failure, carrying the headers of its HTTP answer.
 *
 * @since 0.1.0
 */
export class AuthTRPCError extends TRPCError {
  /** `www-authenticate` (401, 403) and `retry-after` (429, 503), lower-case. */
  readonly headers: Readonly<Record<string, string>>
  /** The effect-auth error's tag, or `"internal"`. */
  readonly authTag: AuthError.AuthErrorTag | "internal"

  constructor(options: {
    readonly code: TRPC_ERROR_CODE_KEY
    readonly message: string
    readonly headers: Readonly<Record<string, string>>
    readonly authTag: AuthError.AuthErrorTag | "internal"
  }) {
    // No `cause`: a provider's cause may name a host, a URL or a driver error, and tRPC's `onError`
    // handlers and dev-mode shapes pass causes along.
    super({ code: options.code, message: options.message })
    this.name = "AuthTRPCError"
    this.headers = options.headers
    this.authTag = options.authTag
  }
}

/**
 * The tRPC error for a failure: `UNAUTHORIZED` (401), `FORBIDDEN` (403), `TOO_MANY_REQUESTS` (429),
 * `SERVICE_UNAVAILABLE` (503) or `INTERNAL_SERVER_ERROR` (500), with the library's fixed message.
 *
 * @example
 * ```ts
 * import { AuthError } from "@effect-auth/core"
 * import { TrpcError } from "@effect-auth/trpc"
 *
 * const error = TrpcError.fromFailure(new AuthError.Forbidden({ reason: "missing-groups" }))
 * // error.code === "FORBIDDEN"
 * ```
 *
 * @since 0.1.0
 */
export const fromFailure = (
  failure: ErrorResponse.Failure,
  options?: { readonly challenges?: ReadonlyArray<AuthProvider.Challenge> | undefined }
): AuthTRPCError => {
  const answer = ErrorResponse.fromFailure(failure, { challenges: options?.challenges })
  const headers: Record<string, string> = {}
  for (const name of ["www-authenticate", "retry-after"]) {
    const value = answer.headers[name]
    if (value !== undefined) headers[name] = value
  }
  return new AuthTRPCError({
    code: codes[answer.status] ?? "INTERNAL_SERVER_ERROR",
    message: failure === "internal" ? internalMessage : failure.message,
    headers,
    authTag: failure === "internal" ? "internal" : failure._tag
  })
}

/**
 * A `responseMeta` for tRPC's HTTP adapters: adds the `WWW-Authenticate` and `Retry-After` headers of
 * the auth errors in the response (the longest `Retry-After` of a batch). The status is already right:
 * tRPC derives it from each error's code.
 *
 * @example
 * ```ts
 * import { createHTTPServer } from "@trpc/server/adapters/standalone"
 * import { TrpcError } from "@effect-auth/trpc"
 *
 * declare const options: Omit<Parameters<typeof createHTTPServer>[0], "responseMeta">
 * createHTTPServer({ ...options, responseMeta: TrpcError.responseMeta })
 * ```
 *
 * @since 0.1.0
 */
export const responseMeta = (opts: { readonly errors: ReadonlyArray<TRPCError> }): { headers: Headers } => {
  const headers = new Headers()
  let retryAfter = 0
  for (const error of opts.errors) {
    if (!(error instanceof AuthTRPCError)) continue
    const challenge = error.headers["www-authenticate"]
    if (challenge !== undefined && !headers.has("www-authenticate")) headers.set("www-authenticate", challenge)
    retryAfter = Math.max(retryAfter, Number(error.headers["retry-after"] ?? 0))
  }
  if (retryAfter > 0) headers.set("retry-after", String(retryAfter))
  return { headers }
}

/**
 * effect-auth errors as `GraphQLError`s, so Yoga shows them instead of masking them: `extensions.code`
 * (`UNAUTHENTICATED`, `FORBIDDEN`, `TOO_MANY_REQUESTS`, `SERVICE_UNAVAILABLE`, `INTERNAL_SERVER_ERROR`) and
 * `extensions.http` (status 401/403/429/503/500 with `WWW-Authenticate` or `Retry-After`), which Yoga turns
 * into the response's status and headers. Status and headers come from `@effect-auth/http`'s one mapping;
 * messages are the errors' fixed texts, never a token.
 *
 * @since 0.1.0
 */
import type { AuthProvider } from "@effect-auth/core"
import { AuthError, RateLimit } from "@effect-auth/core"
import { ErrorResponse } from "@effect-auth/http"
import type { ASTNode } from "graphql"
import { GraphQLError } from "graphql"

/**
 * The GraphQL error codes, by HTTP status.
 *
 * @since 0.1.0
 */
export const codes: Readonly<Record<number, string>> = {
  401: "UNAUTHENTICATED",
  403: "FORBIDDEN",
  429: "TOO_MANY_REQUESTS",
  500: "INTERNAL_SERVER_ERROR",
  503: "SERVICE_UNAVAILABLE"
}

/**
 * @since 0.1.0
 */
export interface Options {
  /** The authenticator's challenges, for `WWW-Authenticate` on 401. */
  readonly challenges?: ReadonlyArray<AuthProvider.Challenge> | undefined
  /** The field nodes the error is about, for `locations`. */
  readonly nodes?: ReadonlyArray<ASTNode> | undefined
}

// Only these of the shared answer's headers apply: its content-type and cache-control are for its own body.
const passedHeaders = ["www-authenticate", "retry-after"]

/**
 * The `GraphQLError` for a failure.
 *
 * @example
 * ```ts
 * import { AuthError } from "@effect-auth/core"
 * import { AuthGraphQLError } from "@effect-auth/yoga"
 *
 * const error = AuthGraphQLError.fromFailure(new AuthError.Forbidden({ reason: "missing-groups" }))
 * // error.extensions.code === "FORBIDDEN", error.extensions.http.status === 403
 * ```
 *
 * @since 0.1.0
 */
export const fromFailure = (failure: ErrorResponse.Failure, options: Options = {}): GraphQLError => {
  const answer = ErrorResponse.fromFailure(failure, { challenges: options.challenges })
  const headers: Record<string, string> = {}
  for (const name of passedHeaders) {
    const value = answer.headers[name]
    if (value !== undefined) headers[name] = value
  }
  if (failure instanceof AuthError.RateLimited) Object.assign(headers, RateLimit.headers(failure))
  const reason =
    failure === "internal" ? undefined : failure._tag === "IncompleteGrants" ? failure.grant : failure.reason
  return new GraphQLError(failure === "internal" ? "The request could not be processed" : failure.message, {
    nodes: options.nodes ?? null,
    extensions: {
      code: codes[answer.status] ?? "INTERNAL_SERVER_ERROR",
      ...(reason === undefined ? {} : { reason }),
      http: { status: answer.status, headers }
    }
  })
}

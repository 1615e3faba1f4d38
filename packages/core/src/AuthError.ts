/**
 * The typed failures of authentication and authorization. Every error carries a stable, machine-readable
 * `reason` a caller may branch on, and a message that never contains a token, password or API key.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/** Why no credential could be read from the request. */
export const MissingCredentialsReason = Schema.Literal("absent", "empty")

/**
 * The request presented no credential (401).
 *
 * @since 0.1.0
 */
export class MissingCredentials extends Schema.TaggedError<MissingCredentials>()("MissingCredentials", {
  reason: MissingCredentialsReason
}) {
  override get message(): string {
    return this.reason === "empty" ? "The credential header is empty" : "No credentials were presented"
  }
}

/** Why a presented credential was refused. */
export const InvalidCredentialsReason = Schema.Literal(
  "malformed",
  "bad-encoding",
  "too-large",
  "multiple-headers",
  "multiple-credentials",
  "unsupported-scheme",
  "rejected"
)

const invalidCredentialsMessages: Record<typeof InvalidCredentialsReason.Type, string> = {
  malformed: "The credential is malformed",
  "bad-encoding": "The credential is not correctly encoded",
  "too-large": "The credential header is too large",
  "multiple-headers": "Several credential headers were presented",
  "multiple-credentials": "More than one kind of credential was presented",
  "unsupported-scheme": "The authorization scheme is not supported",
  rejected: "The credentials are not valid"
}

/**
 * The request presented a credential that cannot be accepted (401). `rejected` is the single answer for
 * a wrong user, a wrong password or an unknown key: which one was wrong is never revealed.
 *
 * @since 0.1.0
 */
export class InvalidCredentials extends Schema.TaggedError<InvalidCredentials>()("InvalidCredentials", {
  reason: InvalidCredentialsReason,
  /** The credential's scheme, for the `WWW-Authenticate` challenge; never its value. */
  scheme: Schema.optional(Schema.Literal("Bearer", "Basic", "ApiKey")),
  /** A fixed explanation written by this library (never echoes input). */
  detail: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return this.detail ?? invalidCredentialsMessages[this.reason]
  }
}

/** Why a bearer token was refused. */
export const InvalidTokenReason = Schema.Literal(
  "expired",
  "not-yet-valid",
  "issued-in-future",
  "bad-signature",
  "wrong-issuer",
  "wrong-audience",
  "wrong-type",
  "unsupported-algorithm",
  "malformed",
  "too-large",
  "unknown-key",
  "unknown-issuer",
  "missing-claim",
  "invalid-claim",
  "unsupported-critical-header",
  "revoked"
)

/**
 * A bearer token failed verification (401 with `error="invalid_token"`).
 *
 * @since 0.1.0
 */
export class InvalidToken extends Schema.TaggedError<InvalidToken>()("InvalidToken", {
  reason: InvalidTokenReason,
  detail: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return this.detail ?? `The token is invalid: ${this.reason}`
  }
}

/** Which requirement a caller did not meet. */
export const ForbiddenReason = Schema.Literal(
  "missing-groups",
  "missing-roles",
  "missing-permissions",
  "wrong-kind",
  "policy"
)

/**
 * The caller is authenticated but not allowed (403). `required` lists what was asked for, as written in
 * the policy; it never lists what the caller has.
 *
 * @since 0.1.0
 */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {
  reason: ForbiddenReason,
  required: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] })
}) {
  override get message(): string {
    return "The caller is not allowed to perform this request"
  }
}

/**
 * The caller went over its rate limit (429). `retryAfterMillis` is how long until it may try again.
 *
 * @since 0.1.0
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  reason: Schema.Literal("rate-limit-exceeded"),
  retryAfterMillis: Schema.Number.pipe(Schema.finite(), Schema.nonNegative()),
  limit: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return "Too many requests"
  }
}

/** Why a dependency could not answer. */
export const ProviderUnavailableReason = Schema.Literal("timeout", "unreachable", "bad-response", "misconfigured")

/**
 * A dependency of authentication (JWKS endpoint, database, Redis, key file) could not answer in time
 * (503). Never turned into a 401 or a success.
 *
 * @since 0.1.0
 */
export class ProviderUnavailable extends Schema.TaggedError<ProviderUnavailable>()("ProviderUnavailable", {
  reason: ProviderUnavailableReason,
  provider: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `The authentication provider "${this.provider}" is unavailable (${this.reason})`
  }
}

/**
 * Which kind of grant.
 *
 * @since 0.1.0
 */
export const GrantKind = Schema.Literal("groups", "roles", "permissions")

/**
 * The credential could not carry all of a principal's grants (Azure Entra ID's groups overage: a user in
 * too many groups gets a pointer to Microsoft Graph instead of a `groups` claim). Reading that grant from
 * the claims fails with this error rather than returning an empty list, so a guard can never turn it into
 * a quiet 403 for a caller who may well be a member; provide a `GroupsProvider` that looks them up.
 *
 * @since 0.1.0
 */
export class IncompleteGrants extends Schema.TaggedError<IncompleteGrants>()("IncompleteGrants", {
  grant: GrantKind,
  provider: Schema.String
}) {
  override get message(): string {
    return `The credential does not carry the caller's ${this.grant}; a ${this.grant} lookup must be configured`
  }
}

/**
 * What looking up groups, roles or permissions may fail with.
 *
 * @since 0.1.0
 */
export type AuthorizationError = ProviderUnavailable | IncompleteGrants

/**
 * What authenticating a request may fail with.
 *
 * @since 0.1.0
 */
export type AuthenticationError =
  MissingCredentials | InvalidCredentials | InvalidToken | RateLimited | ProviderUnavailable

/**
 * Every failure of this package.
 *
 * @since 0.1.0
 */
export type AuthError = AuthenticationError | Forbidden | IncompleteGrants

/**
 * Every error tag, for `Effect.catchTags` and mappings.
 *
 * @since 0.1.0
 */
export type AuthErrorTag = AuthError["_tag"]

const tags: ReadonlySet<string> = new Set<AuthErrorTag>([
  "MissingCredentials",
  "InvalidCredentials",
  "InvalidToken",
  "Forbidden",
  "IncompleteGrants",
  "RateLimited",
  "ProviderUnavailable"
])

/**
 * Whether a value is one of this package's errors.
 *
 * @since 0.1.0
 */
export const isAuthError = (u: unknown): u is AuthError =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string" && tags.has(u._tag)

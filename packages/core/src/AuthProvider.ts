/**
 * The contract every identity provider implements: which credentials it takes, and how it turns one into
 * an {@link Identity}. An `Authenticator` is built from a list of them.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type { AuthenticationError } from "./AuthError.js"
import type { Credential } from "./Credential.js"
import type { Identity } from "./Identity.js"

/**
 * What a 401 response asks the client for (`WWW-Authenticate`).
 *
 * @since 0.1.0
 */
export interface Challenge {
  readonly scheme: "Basic" | "Bearer" | "ApiKey"
  readonly realm?: string | undefined
}

/**
 * @since 0.1.0
 */
export interface AuthProvider {
  /** Short name, recorded as the principal's `provider`. */
  readonly name: string
  /**
   * Whether this provider handles the credential. The first provider that says yes decides; it must
   * decide from cheap, unverified facts (the scheme, a token's `iss`), never by trying to verify.
   */
  readonly accepts: (credential: Credential) => boolean
  readonly authenticate: (credential: Credential) => Effect.Effect<Identity, AuthenticationError>
  /**
   * An optional synchronous lane: the decision `authenticate` would make, made without a fiber when
   * nothing has to be waited for (keys already in memory), or `undefined` when something does, and then
   * `authenticate` runs. `nowMillis` is the caller's `Clock` time, so both lanes see the same time.
   * A wrapper that changes what `authenticate` decides (`{ ...provider, authenticate: … }`) must change or
   * drop this too, or the lane would skip the wrapper's checks.
   */
  readonly authenticateNow?:
    | ((credential: Credential, nowMillis: number) => Either.Either<Identity, AuthenticationError> | undefined)
    | undefined
  readonly challenge: Challenge
}

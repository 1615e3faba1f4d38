/**
 * HTTP Basic authentication: an identity provider that checks `Basic` credentials against a
 * `CredentialsRepository` with a `PasswordHasher`.
 *
 * An unknown user and a wrong password are answered with the same error after the same work, so neither
 * the message nor the response time tells which one was wrong.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { InvalidCredentials } from "./AuthError.js"
import type { AuthProvider } from "./AuthProvider.js"
import type * as Credential from "./Credential.js"
import { CredentialsRepository } from "./CredentialsRepository.js"
import type { StoredCredentials } from "./CredentialsRepository.js"
import * as Identity from "./Identity.js"
import { PasswordHasher } from "./PasswordHasher.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** The realm of the `WWW-Authenticate` challenge. Default `effect-auth`. */
  readonly realm?: string | undefined
  /** The provider name recorded on principals. Default `basic`. */
  readonly name?: string | undefined
  /** Longest accepted password in UTF-8 bytes; longer ones are refused without hashing. Default 1024. */
  readonly maxPasswordBytes?: number | undefined
}

/**
 * The default realm: `effect-auth`.
 *
 * @since 0.1.0
 */
export const defaultRealm = "effect-auth"

/**
 * The default longest password: 1024 bytes.
 *
 * @since 0.1.0
 */
export const defaultMaxPasswordBytes = 1024

const rejected = () => new InvalidCredentials({ reason: "rejected", scheme: "Basic" })

const identityOf = (stored: StoredCredentials, provider: string): Identity.Identity => {
  // Grants go into the claims, where the default claim-based Groups/Roles/PermissionsProvider read them.
  const claims: Record<string, unknown> = { ...stored.claims }
  if (stored.groups !== undefined) claims.groups = [...stored.groups]
  if (stored.roles !== undefined) claims.roles = [...stored.roles]
  if (stored.permissions !== undefined) claims.permissions = [...stored.permissions]
  return Identity.make({
    id: stored.id ?? stored.username,
    kind: "user",
    provider,
    name: stored.name,
    email: stored.email,
    claims
  })
}

/**
 * The Basic provider. Needs a `CredentialsRepository` and a `PasswordHasher`.
 *
 * @example
 * ```ts
 * import { Authenticator, BasicAuth, CredentialsRepository, PasswordHasher } from "@effect-auth/core"
 * import { Layer } from "effect"
 *
 * const AuthLive = Authenticator.layer([BasicAuth.provider({ realm: "admin" })]).pipe(
 *   Layer.provide(CredentialsRepository.layerFile("users.txt")),
 *   Layer.provide(PasswordHasher.layer())
 * )
 * ```
 *
 * @since 0.1.0
 */
export const provider = (
  options: Options = {}
): Effect.Effect<AuthProvider, never, CredentialsRepository | PasswordHasher> =>
  Effect.gen(function* () {
    const repository = yield* CredentialsRepository
    const hasher = yield* PasswordHasher
    const name = options.name ?? "basic"
    const maxPasswordBytes = options.maxPasswordBytes ?? defaultMaxPasswordBytes

    const authenticate = (credential: Credential.Credential) =>
      Effect.gen(function* () {
        if (credential._tag !== "Basic") {
          return yield* Effect.fail(new InvalidCredentials({ reason: "unsupported-scheme", scheme: credential._tag }))
        }
        const { password, username } = credential
        // Bounded before any lookup or hashing: a huge password would cost hashing time for nothing, and
        // refusing it before the lookup reveals nothing about which users exist.
        if (Buffer.byteLength(Redacted.value(password), "utf8") > maxPasswordBytes)
          return yield* Effect.fail(rejected())
        const stored = yield* repository.findByUsername(username)
        if (Option.isNone(stored)) {
          // The same work as a wrong password, so the response time does not reveal unknown users.
          yield* hasher.dummyVerify(password)
          return yield* Effect.fail(rejected())
        }
        const valid = yield* hasher.verify(password, stored.value.passwordHash)
        if (!valid) return yield* Effect.fail(rejected())
        return identityOf(stored.value, name)
      })

    return {
      name,
      accepts: (credential) => credential._tag === "Basic",
      authenticate,
      challenge: { scheme: "Basic", realm: options.realm ?? defaultRealm }
    } satisfies AuthProvider
  })

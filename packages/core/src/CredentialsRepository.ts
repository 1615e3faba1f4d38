/**
 * Where HTTP Basic users and their password hashes are looked up (the seed's
 * `CredentialsRepository.get_credentials(username)`). This module has the port, an in-memory store and a
 * users file (`username:<PHC hash>[:group1,group2]` lines); the SQL store lives in `@effect-auth/sql`.
 *
 * @since 0.1.0
 */
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Fs from "node:fs/promises"
import type { ProviderUnavailable } from "./AuthError.js"
import * as PasswordHasher from "./PasswordHasher.js"

/**
 * A user as stored: the password hash (never the password) and the attributes its identity gets.
 *
 * @since 0.1.0
 */
export interface StoredCredentials {
  readonly username: string
  /** A scrypt PHC or bcrypt hash, as made by `PasswordHasher.hash`. */
  readonly passwordHash: string
  /** The principal's id; the user name when absent. */
  readonly id?: string | undefined
  readonly name?: string | undefined
  readonly email?: string | undefined
  readonly groups?: ReadonlyArray<string> | undefined
  readonly roles?: ReadonlyArray<string> | undefined
  readonly permissions?: ReadonlyArray<string> | undefined
  /** Further attributes, copied into the identity's claims. */
  readonly claims?: Readonly<Record<string, unknown>> | undefined
}

/**
 * @since 0.1.0
 */
export interface CredentialsRepository {
  /** The user with exactly this name, if any. A store that cannot answer fails with `ProviderUnavailable`. */
  readonly findByUsername: (username: string) => Effect.Effect<Option.Option<StoredCredentials>, ProviderUnavailable>
}

/**
 * @since 0.1.0
 */
export const CredentialsRepository: Context.Tag<CredentialsRepository, CredentialsRepository> =
  Context.GenericTag<CredentialsRepository>("@effect-auth/core/CredentialsRepository")

/**
 * A repository over a fixed list of users. When a user name appears twice, the first entry wins.
 *
 * @since 0.1.0
 */
export const makeMemory = (users: ReadonlyArray<StoredCredentials>): CredentialsRepository => {
  const byUsername = new Map<string, StoredCredentials>()
  for (const user of users) {
    if (!byUsername.has(user.username)) byUsername.set(user.username, user)
  }
  return CredentialsRepository.of({
    findByUsername: (username) => Effect.succeed(Option.fromNullable(byUsername.get(username)))
  })
}

/**
 * An in-memory repository.
 *
 * @example
 * ```ts
 * import { CredentialsRepository } from "@effect-auth/core"
 *
 * const users = CredentialsRepository.layerMemory([
 *   { username: "alice", passwordHash: "$scrypt$ln=15,r=8,p=1$...$...", groups: ["admin"] }
 * ])
 * ```
 *
 * @since 0.1.0
 */
export const layerMemory = (users: ReadonlyArray<StoredCredentials>): Layer.Layer<CredentialsRepository> =>
  Layer.sync(CredentialsRepository, () => makeMemory(users))

/**
 * What {@link parseUsersFile} read: the valid users, and one warning per skipped line.
 *
 * @since 0.1.0
 */
export interface UsersFile {
  readonly users: ReadonlyArray<StoredCredentials>
  readonly warnings: ReadonlyArray<string>
}

const usernamePattern = /^[A-Za-z0-9._@-]{1,128}$/

/**
 * Parses a users file: one `username:<hash>` per line with an optional `:group1,group2` suffix, `#`
 * comments and blank lines. User names are 1–128 letters, digits, `.`, `_`, `-` or `@`; the hash is a
 * scrypt PHC or bcrypt hash. Invalid lines and repeated user names are skipped with a warning that gives
 * the line number (and the user name when it is valid), never the hash.
 *
 * @example
 * ```ts
 * import { CredentialsRepository } from "@effect-auth/core"
 *
 * const { users, warnings } = CredentialsRepository.parseUsersFile("alice:$2b$10$...:admin,ops\n")
 * ```
 *
 * @since 0.1.0
 */
export const parseUsersFile = (text: string): UsersFile => {
  const users: Array<StoredCredentials> = []
  const warnings: Array<string> = []
  const firstLine = new Map<string, number>()
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/)
  lines.forEach((raw, index) => {
    const lineNumber = index + 1
    const line = raw.trim()
    if (line.length === 0 || line.startsWith("#")) return
    const fields = line.split(":")
    const [username, passwordHash, groupList] = fields
    // Nothing from a line without a separator or with an invalid user name is echoed: it may hold a hash
    // or a password.
    if (username === undefined || passwordHash === undefined) {
      warnings.push(`users file line ${lineNumber}: not "username:hash[:groups]"; the line is skipped`)
      return
    }
    if (!usernamePattern.test(username)) {
      warnings.push(`users file line ${lineNumber}: invalid user name; the line is skipped`)
      return
    }
    if (fields.length > 3) {
      warnings.push(
        `users file line ${lineNumber}: user "${username}" is not "username:hash[:groups]"; the line is skipped`
      )
      return
    }
    if (!PasswordHasher.isSupported(passwordHash)) {
      warnings.push(
        `users file line ${lineNumber}: user "${username}" has no valid scrypt or bcrypt hash; the line is skipped`
      )
      return
    }
    const previous = firstLine.get(username)
    if (previous !== undefined) {
      warnings.push(
        `users file line ${lineNumber}: user "${username}" was already defined on line ${previous}; the line is skipped`
      )
      return
    }
    firstLine.set(username, lineNumber)
    const groups =
      groupList === undefined
        ? undefined
        : Array.from(new Set(groupList.split(",").map((group) => group.trim()))).filter((group) => group.length > 0)
    users.push(groups === undefined ? { username, passwordHash } : { username, passwordHash, groups })
  })
  return { users, warnings }
}

/**
 * A repository read from a users file (see {@link parseUsersFile}) once, when the layer is built. A file
 * that cannot be read fails the layer with a `ConfigError` (never an empty store that silently refuses
 * everyone); skipped lines are logged as warnings.
 *
 * @example
 * ```ts
 * import { CredentialsRepository } from "@effect-auth/core"
 *
 * const users = CredentialsRepository.layerFile("/etc/effect-auth/users")
 * ```
 *
 * @since 0.1.0
 */
export const layerFile = (path: string): Layer.Layer<CredentialsRepository, ConfigError.ConfigError> =>
  Layer.effect(
    CredentialsRepository,
    Effect.gen(function* () {
      const text = yield* Effect.tryPromise({
        try: () => Fs.readFile(path, "utf8"),
        catch: (error) =>
          ConfigError.InvalidData(
            [],
            `Cannot read the users file "${path}" (${
              typeof error === "object" && error !== null && "code" in error ? String(error.code) : "unknown error"
            })`
          )
      })
      const { users, warnings } = parseUsersFile(text)
      for (const warning of warnings) yield* Effect.logWarning(warning)
      if (users.length === 0)
        yield* Effect.logWarning(`users file "${path}" has no valid users: every login is refused`)
      return makeMemory(users)
    })
  )

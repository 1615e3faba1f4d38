/**
 * Managing what the SQL stores hold: grants (groups, roles, permissions, role inheritance), Basic users
 * and API keys. Every function validates its input before touching the database and fails with
 * `AdminError` on a name, pair or value it would not store; the `effect-auth` CLI is built on them.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { ApiKey, BasicAuth, PasswordHasher, Permission } from "@effect-auth/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import type { Tables } from "./internal/tables.js"
import { tables } from "./internal/tables.js"

/**
 * Invalid input (a name, a permission, a pair that cannot be granted, a value out of range) or a user or
 * key id that already exists. The message names the field, never a password or key.
 *
 * @since 0.1.0
 */
export class AdminError extends Schema.TaggedError<AdminError>()("AdminError", { message: Schema.String }) {}

/**
 * @since 0.1.0
 */
export interface Options {
  /** Prefix of every table name. Default `auth_`. */
  readonly tablePrefix?: string | undefined
}

/**
 * Who receives a grant: a principal (by id), a group or a role.
 *
 * @since 0.1.0
 */
export type Subject = { readonly principal: string } | { readonly group: string } | { readonly role: string }

/**
 * What is granted: membership of a group, a role, or a permission (`documents.*`, `!documents.delete`).
 *
 * @since 0.1.0
 */
export type Grant = { readonly group: string } | { readonly role: string } | { readonly permission: string }

type SubjectKind = "principal" | "group" | "role"
type GrantKind = "group" | "role" | "permission"

// ---------------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------------

const maxNameLength = 255
const maxShortNameLength = 128
// Control characters have no place in a name and could rewrite a terminal that lists it; lone surrogates
// cannot be stored as UTF-8.
const forbiddenCharacters = /[\p{Cc}\p{Cs}]/u
const usernamePattern = /^[A-Za-z0-9._@-]{1,128}$/
const maxAttributesBytes = 65_535
const maxRateLimit = 2_147_483_647
const grantClaims = ["groups", "roles", "permissions"]

const invalid = (message: string) => Effect.fail(new AdminError({ message }))

const isName = (value: unknown, maxLength: number): value is string =>
  typeof value === "string" &&
  value.length > 0 &&
  Array.from(value).length <= maxLength &&
  !forbiddenCharacters.test(value) &&
  value.trim() === value

/** A principal id, group, role, owner or description: the invalid value is not echoed. */
const checkName = (label: string, value: unknown, maxLength: number = maxNameLength) =>
  isName(value, maxLength)
    ? Effect.succeed(value)
    : invalid(
        `Invalid ${label}: expected 1 to ${maxLength} characters without control characters or leading or trailing whitespace`
      )

const checkUsername = (value: unknown) =>
  typeof value === "string" && usernamePattern.test(value)
    ? Effect.succeed(value)
    : invalid("Invalid user name: expected 1 to 128 letters, digits, '.', '_', '-' or '@'")

const checkKeyId = (value: unknown) =>
  typeof value === "string" && value.length <= maxShortNameLength && ApiKey.isValidKeyId(value)
    ? Effect.succeed(value)
    : invalid("Invalid key id: expected 1 to 128 letters, digits, '-' or '_'")

const checkPermission = (value: unknown) =>
  typeof value === "string" && Permission.isValid(value)
    ? Effect.succeed(value)
    : invalid(
        "Invalid permission: expected up to 255 characters without whitespace, dot-separated, '*' only as the " +
          "whole last segment, and an optional leading '!' for a deny"
      )

const checkOptional = <A>(value: A | undefined, check: (value: A) => Effect.Effect<A, AdminError>) =>
  value === undefined ? Effect.succeed(undefined) : check(value)

/** The one kind a subject or grant object names; more than one, or none, is refused. */
const kindOf = <K extends string>(
  label: string,
  value: object,
  kinds: ReadonlyArray<K>
): Effect.Effect<{ readonly kind: K; readonly name: unknown }, AdminError> => {
  const present = kinds.filter((kind) => Object.prototype.hasOwnProperty.call(value, kind))
  const kind = present[0]
  return present.length === 1 && kind !== undefined
    ? Effect.succeed({ kind, name: (value as Record<K, unknown>)[kind] })
    : invalid(`Invalid ${label}: expected exactly one of ${kinds.join(", ")}`)
}

// ---------------------------------------------------------------------------------------------------------
// Grants
// ---------------------------------------------------------------------------------------------------------

interface Link {
  readonly table: string
  readonly left: string
  readonly right: string
}

/** The table of each pair that can be granted; the pairs missing here are refused. */
const linkOf = (t: Tables, subject: SubjectKind, grant: GrantKind): Link | undefined => {
  switch (`${subject}<-${grant}`) {
    case "principal<-group":
      return { table: t.principalGroups, left: "principal_id", right: "group_name" }
    case "principal<-role":
      return { table: t.principalRoles, left: "principal_id", right: "role_name" }
    case "principal<-permission":
      return { table: t.principalPermissions, left: "principal_id", right: "permission" }
    case "group<-role":
      return { table: t.groupRoles, left: "group_name", right: "role_name" }
    case "role<-permission":
      return { table: t.rolePermissions, left: "role_name", right: "permission" }
    case "role<-role":
      return { table: t.roleInherits, left: "role_name", right: "inherited_role" }
    default:
      return undefined
  }
}

const tablesOf = (options: Options) =>
  Either.match(tables(options.tablePrefix), {
    onLeft: () =>
      invalid(`Invalid table prefix: expected a lowercase letter, then up to 30 lowercase letters, digits or "_"`),
    onRight: Effect.succeed
  })

/** The validated table and values of a subject/grant pair. */
const resolvePair = (subject: Subject, grant: Grant, options: Options) =>
  Effect.gen(function* () {
    const t = yield* tablesOf(options)
    const s = yield* kindOf("subject", subject, ["principal", "group", "role"] as const)
    const g = yield* kindOf("grant", grant, ["group", "role", "permission"] as const)
    const link = linkOf(t, s.kind, g.kind)
    if (link === undefined) {
      return yield* invalid(
        `A ${s.kind} cannot be given a ${g.kind}: principals take groups, roles and permissions, groups take ` +
          "roles, roles take permissions and other roles"
      )
    }
    const left = yield* checkName(s.kind === "principal" ? "principal id" : `${s.kind} name`, s.name)
    const right = g.kind === "permission" ? yield* checkPermission(g.name) : yield* checkName(`${g.kind} name`, g.name)
    if (s.kind === "role" && g.kind === "role" && left === right) {
      return yield* invalid("A role cannot inherit itself")
    }
    return { link, left, right }
  })

const pairExists = (sql: SqlClient.SqlClient, { left, link, right }: { link: Link; left: string; right: string }) =>
  Effect.map(
    sql`SELECT 1 AS found FROM ${sql(link.table)} WHERE ${sql(link.left)} = ${left} AND ${sql(link.right)} = ${right}`,
    (rows) => rows.length > 0
  )

/**
 * Runs `insert` unless `exists`, in one transaction, and answers whether it inserted. When two writers
 * race, the loser's insert hits the primary key; if the row is there afterwards that is the same answer
 * as finding it first.
 */
const insertUnlessExists = <E>(
  sql: SqlClient.SqlClient,
  exists: Effect.Effect<boolean, SqlError>,
  insert: Effect.Effect<unknown, SqlError>,
  onExisting: Effect.Effect<boolean, E>
): Effect.Effect<boolean, E | SqlError> => {
  const once = Effect.flatMap(exists, (found): Effect.Effect<boolean, E | SqlError> =>
    found ? onExisting : Effect.as(insert, true)
  )
  return sql.withTransaction(once).pipe(
    Effect.catchIf(
      (error): error is SqlError => error instanceof SqlError,
      (error) =>
        Effect.flatMap(exists, (found): Effect.Effect<boolean, E | SqlError> =>
          found ? onExisting : Effect.fail(error)
        )
    )
  )
}

/**
 * Grants a group, role or permission. The pairs are: a principal takes groups, roles and permissions; a
 * group takes roles; a role takes permissions and other roles (it then inherits them). Answers `true`
 * when the grant was added, `false` when it was already there. Names are 1 to 255 characters without
 * control characters or surrounding whitespace, and compared byte for byte; permissions follow the
 * permission grammar (`documents.read`, `documents.*`, `!documents.delete`).
 *
 * Grants are keyed on names only: granting to a principal id that has no user, or a role nobody holds, is
 * allowed (principal ids are shared with the JWT and API key providers).
 *
 * @example
 * ```ts
 * import { SqlAdmin, SqlDatabase } from "@effect-auth/sql"
 * import { Effect, Redacted } from "effect"
 *
 * const setup = Effect.all([
 *   SqlAdmin.grant({ principal: "alice" }, { group: "editors" }),
 *   SqlAdmin.grant({ group: "editors" }, { role: "editor" }),
 *   SqlAdmin.grant({ role: "editor" }, { permission: "documents.*" }),
 *   SqlAdmin.grant({ role: "editor" }, { permission: "!documents.delete" })
 * ]).pipe(Effect.provide(SqlDatabase.layer({ url: Redacted.make("sqlite:./auth.db") })))
 * ```
 *
 * @since 0.1.0
 */
export const grant = (
  subject: Subject,
  grant: Grant,
  options: Options = {}
): Effect.Effect<boolean, AdminError | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const pair = yield* resolvePair(subject, grant, options)
    const sql = yield* SqlClient.SqlClient
    return yield* insertUnlessExists(
      sql,
      pairExists(sql, pair),
      sql`INSERT INTO ${sql(pair.link.table)} ${sql.insert({ [pair.link.left]: pair.left, [pair.link.right]: pair.right })}`,
      Effect.succeed(false)
    )
  })

/**
 * Takes back a grant made with {@link grant}. Answers `true` when it was there, `false` otherwise.
 *
 * @since 0.1.0
 */
export const revoke = (
  subject: Subject,
  grant: Grant,
  options: Options = {}
): Effect.Effect<boolean, AdminError | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const pair = yield* resolvePair(subject, grant, options)
    const sql = yield* SqlClient.SqlClient
    const { left, link, right } = pair
    return yield* sql.withTransaction(
      Effect.flatMap(pairExists(sql, pair), (found) =>
        found
          ? Effect.as(
              sql`DELETE FROM ${sql(link.table)} WHERE ${sql(link.left)} = ${left} AND ${sql(link.right)} = ${right}`,
              true
            )
          : Effect.succeed(false)
      )
    )
  })

// ---------------------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------------------

/**
 * What a user's identity gets besides its name and hash.
 *
 * @since 0.1.0
 */
export interface UserProfile {
  /** The identity id (the key of the user's grants). Default: the user name. */
  readonly id?: string | undefined
  readonly name?: string | undefined
  readonly email?: string | undefined
  /** Further claims of the identity, stored as a JSON object (at most 64 KiB). */
  readonly attributes?: Readonly<Record<string, unknown>> | undefined
}

/**
 * A new user, with a password (hashed here) or a hash made elsewhere (`PasswordHasher.hash`).
 *
 * @since 0.1.0
 */
export type NewUser = (
  | { readonly username: string; readonly password: Redacted.Redacted<string>; readonly passwordHash?: never }
  | { readonly username: string; readonly passwordHash: string; readonly password?: never }
) &
  UserProfile

const hasherOf = Effect.flatMap(
  Effect.serviceOption(PasswordHasher.PasswordHasher),
  Option.match({
    // The default parameters cannot be out of bounds.
    onNone: () => Effect.orDie(PasswordHasher.make()),
    onSome: Effect.succeed
  })
)

const passwordHashOf = (user: NewUser): Effect.Effect<string, AdminError> =>
  Effect.gen(function* () {
    const hasPassword = user.password !== undefined
    const hasHash = user.passwordHash !== undefined
    if (hasPassword === hasHash) return yield* invalid("Give a user either a password or a password hash")
    if (user.password !== undefined) {
      if (!Redacted.isRedacted(user.password)) return yield* invalid("The password must be a Redacted string")
      const password: unknown = Redacted.value(user.password)
      if (
        typeof password !== "string" ||
        password.length === 0 ||
        Buffer.byteLength(password, "utf8") > BasicAuth.defaultMaxPasswordBytes
      ) {
        return yield* invalid(`Invalid password: expected 1 to ${BasicAuth.defaultMaxPasswordBytes} bytes`)
      }
      const hasher = yield* hasherOf
      return yield* hasher.hash(user.password)
    }
    const hash = user.passwordHash
    // Checked before storing: a hash BasicAuth cannot verify would lock the user out without a word.
    return typeof hash === "string" && hash.length <= maxNameLength && PasswordHasher.isSupported(hash)
      ? hash
      : yield* invalid("Invalid password hash: expected a scrypt (PHC) or bcrypt hash of at most 255 characters")
  })

const attributesOf = (attributes: UserProfile["attributes"]): Effect.Effect<string | null, AdminError> => {
  if (attributes === undefined) return Effect.succeed(null)
  if (typeof attributes !== "object" || attributes === null || Array.isArray(attributes)) {
    return invalid("Invalid attributes: expected an object")
  }
  // Grants of SQL users are kept in the grant tables only (the repository drops these keys too).
  if (grantClaims.some((key) => Object.prototype.hasOwnProperty.call(attributes, key))) {
    return invalid("Invalid attributes: groups, roles and permissions are given with grant, not as attributes")
  }
  let json: string | undefined
  try {
    json = JSON.stringify(attributes)
  } catch {
    json = undefined
  }
  return json === undefined || Buffer.byteLength(json, "utf8") > maxAttributesBytes
    ? invalid("Invalid attributes: expected a JSON-serializable object of at most 64 KiB")
    : Effect.succeed(json)
}

/**
 * Adds a Basic user. The user name is 1 to 128 letters, digits, `.`, `_`, `-` or `@`. A `password` is
 * hashed with the `PasswordHasher` in context, or with the default scrypt parameters when there is none;
 * a `passwordHash` must be one `PasswordHasher` verifies (scrypt PHC or bcrypt). A user name that is
 * already taken is an `AdminError`. The user's grants are given with {@link grant} to its id (the user
 * name unless `id` is set).
 *
 * @example
 * ```ts
 * import { SqlAdmin, SqlDatabase } from "@effect-auth/sql"
 * import { Effect, Redacted } from "effect"
 *
 * const addAlice = SqlAdmin.addUser({
 *   username: "alice",
 *   password: Redacted.make("correct horse battery staple"),
 *   email: "alice@example.com"
 * }).pipe(Effect.provide(SqlDatabase.layer({ url: Redacted.make("sqlite:./auth.db") })))
 * ```
 *
 * @since 0.1.0
 */
export const addUser = (
  user: NewUser,
  options: Options = {}
): Effect.Effect<void, AdminError | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const t = yield* tablesOf(options)
    const username = yield* checkUsername(user.username)
    const id = yield* checkOptional(user.id, (value) => checkName("principal id", value))
    const name = yield* checkOptional(user.name, (value) => checkName("name", value))
    const email = yield* checkOptional(user.email, (value) => checkName("email", value))
    const attributes = yield* attributesOf(user.attributes)
    const passwordHash = yield* passwordHashOf(user)
    const createdAt = yield* Clock.currentTimeMillis
    const sql = yield* SqlClient.SqlClient
    const exists = Effect.map(
      sql`SELECT 1 AS found FROM ${sql(t.users)} WHERE username = ${username}`,
      (rows) => rows.length > 0
    )
    yield* insertUnlessExists(
      sql,
      exists,
      sql`INSERT INTO ${sql(t.users)} ${sql.insert({
        username,
        password_hash: passwordHash,
        principal_id: id ?? null,
        name: name ?? null,
        email: email ?? null,
        attributes,
        disabled: 0,
        created_at: createdAt
      })}`,
      invalid(`User "${username}" already exists`)
    )
  })

/**
 * Removes a Basic user. Answers `true` when the user was there. The grants of its principal id stay:
 * principal ids are shared with other providers; revoke them with {@link revoke} when they should go.
 *
 * @since 0.1.0
 */
export const removeUser = (
  username: string,
  options: Options = {}
): Effect.Effect<boolean, AdminError | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const t = yield* tablesOf(options)
    // Looser than addUser's grammar, so a row written by hand with another name can still be removed.
    const name = yield* checkName("user name", username, maxShortNameLength)
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(
      Effect.flatMap(sql`SELECT 1 AS found FROM ${sql(t.users)} WHERE username = ${name}`, (rows) =>
        rows.length === 0
          ? Effect.succeed(false)
          : Effect.as(sql`DELETE FROM ${sql(t.users)} WHERE username = ${name}`, true)
      )
    )
  })

// ---------------------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------------------

/**
 * A key to create. Every field is optional.
 *
 * @since 0.1.0
 */
export interface NewApiKey {
  /** 1 to 128 letters, digits, `-` or `_`. Default: a random `key_<hex>`. */
  readonly keyId?: string | undefined
  /** The principal the key is issued to (the identity's `owner` claim). */
  readonly owner?: string | undefined
  readonly description?: string | undefined
  /** The key is refused from this instant on. */
  readonly expiresAt?: Date | undefined
  /** Overrides the default per-minute rate limit for this key: a positive integer. */
  readonly rateLimitPerMinute?: number | undefined
  /** The start of the generated key (default `sk-`): letters, digits, `-` or `_`. */
  readonly prefix?: string | undefined
}

/**
 * A new key: its id, and the key itself, which is shown here and never again (only its hash is stored).
 *
 * @since 0.1.0
 */
export interface CreatedApiKey {
  readonly keyId: string
  readonly key: Redacted.Redacted<string>
}

/**
 * A stored key as listed: never its hash, never the key.
 *
 * @since 0.1.0
 */
export interface ApiKeyInfo {
  readonly keyId: string
  readonly owner?: string | undefined
  readonly description?: string | undefined
  readonly expiresAt?: Date | undefined
  readonly disabled: boolean
  readonly rateLimitPerMinute?: number | undefined
  readonly createdAt: Date
}

const checkRateLimit = (value: number) =>
  Number.isSafeInteger(value) && value >= 1 && value <= maxRateLimit
    ? Effect.succeed(value)
    : invalid(`Invalid rate limit: expected a whole number of requests per minute from 1 to ${maxRateLimit}`)

const checkDate = (value: Date) =>
  value instanceof Date && !Number.isNaN(value.getTime())
    ? Effect.succeed(value)
    : invalid("Invalid expiry: expected a valid date")

const generateKey = (prefix: string | undefined) =>
  Effect.try({
    try: () => ApiKey.generate({ prefix }),
    catch: () => new AdminError({ message: "Invalid key prefix: expected at most 85 letters, digits, '-' or '_'" })
  })

/**
 * Creates an API key with `ApiKey.generate` (256 random bits) and stores only its hash. Answers the key,
 * `Redacted`, this once: it cannot be read back. A key id that is already taken is an `AdminError`.
 *
 * @example
 * ```ts
 * import { SqlAdmin, SqlDatabase } from "@effect-auth/sql"
 * import { Console, Effect, Redacted } from "effect"
 *
 * const issue = SqlAdmin.createApiKey({ owner: "billing-service", rateLimitPerMinute: 600 }).pipe(
 *   Effect.tap(({ key, keyId }) => Console.log(`${keyId}: ${Redacted.value(key)} (shown once)`)),
 *   Effect.provide(SqlDatabase.layer({ url: Redacted.make("sqlite:./auth.db") }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const createApiKey = (
  key: NewApiKey = {},
  options: Options = {}
): Effect.Effect<CreatedApiKey, AdminError | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const t = yield* tablesOf(options)
    const keyId =
      key.keyId === undefined ? `key_${Crypto.randomBytes(12).toString("hex")}` : yield* checkKeyId(key.keyId)
    const owner = yield* checkOptional(key.owner, (value) => checkName("owner", value))
    const description = yield* checkOptional(key.description, (value) => checkName("description", value))
    const expiresAt = yield* checkOptional(key.expiresAt, checkDate)
    const rateLimit = yield* checkOptional(key.rateLimitPerMinute, checkRateLimit)
    const secret = yield* generateKey(key.prefix)
    const createdAt = yield* Clock.currentTimeMillis
    const sql = yield* SqlClient.SqlClient
    const exists = Effect.map(
      sql`SELECT 1 AS found FROM ${sql(t.apiKeys)} WHERE key_id = ${keyId}`,
      (rows) => rows.length > 0
    )
    yield* insertUnlessExists(
      sql,
      exists,
      sql`INSERT INTO ${sql(t.apiKeys)} ${sql.insert({
        key_id: keyId,
        key_hash: ApiKey.hash(secret),
        owner: owner ?? null,
        description: description ?? null,
        expires_at: expiresAt === undefined ? null : expiresAt.getTime(),
        disabled: 0,
        rate_limit_per_minute: rateLimit ?? null,
        created_at: createdAt
      })}`,
      invalid(`API key "${keyId}" already exists`)
    )
    return { keyId, key: Redacted.make(secret) }
  })

/**
 * Revokes an API key (sets `disabled`): it is refused from the next request on, like an unknown key.
 * Answers `true` when an active key was revoked, `false` when there is no such key or it was already
 * revoked.
 *
 * @since 0.1.0
 */
export const revokeApiKey = (
  keyId: string,
  options: Options = {}
): Effect.Effect<boolean, AdminError | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const t = yield* tablesOf(options)
    // Looser than createApiKey's grammar, so a row written by hand can still be revoked.
    const id = yield* checkName("key id", keyId, maxShortNameLength)
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(
      Effect.flatMap(sql`SELECT 1 AS found FROM ${sql(t.apiKeys)} WHERE key_id = ${id} AND disabled = 0`, (rows) =>
        rows.length === 0
          ? Effect.succeed(false)
          : Effect.as(sql`UPDATE ${sql(t.apiKeys)} SET disabled = 1 WHERE key_id = ${id}`, true)
      )
    )
  })

interface KeyInfoRow {
  readonly key_id: string
  readonly owner: string | null
  readonly description: string | null
  readonly expires_at: number | string | bigint | null
  readonly disabled: number | string | bigint | boolean
  readonly rate_limit_per_minute: number | string | bigint | null
  readonly created_at: number | string | bigint
}

/** An integer column as a number: PostgreSQL answers BIGINT as a string, MySQL as a number. */
const integerOf = (value: number | string | bigint): number =>
  typeof value === "number" ? value : typeof value === "bigint" || /^-?\d{1,16}$/.test(value) ? Number(value) : NaN

/**
 * Every stored API key, by key id: id, owner, description, expiry, whether it is revoked, rate limit and
 * creation time. Never the hashes (nor, of course, the keys).
 *
 * @since 0.1.0
 */
export const listApiKeys = (
  options: Options = {}
): Effect.Effect<ReadonlyArray<ApiKeyInfo>, AdminError | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const t = yield* tablesOf(options)
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<KeyInfoRow>`SELECT key_id, owner, description, expires_at, disabled,
      rate_limit_per_minute, created_at FROM ${sql(t.apiKeys)} ORDER BY key_id`
    return rows.map((row): ApiKeyInfo => {
      const rateLimit = row.rate_limit_per_minute === null ? undefined : integerOf(row.rate_limit_per_minute)
      return {
        keyId: row.key_id,
        ...(row.owner === null ? {} : { owner: row.owner }),
        ...(row.description === null ? {} : { description: row.description }),
        ...(row.expires_at === null ? {} : { expiresAt: new Date(integerOf(row.expires_at)) }),
        disabled: !(row.disabled === 0 || row.disabled === "0" || row.disabled === 0n || row.disabled === false),
        ...(rateLimit === undefined ? {} : { rateLimitPerMinute: rateLimit }),
        createdAt: new Date(integerOf(row.created_at))
      }
    })
  })

/**
 * What a request presents to prove who it is, and how it is read from HTTP headers.
 *
 * Parsing is strict and bounded: a header over the size limit, several `Authorization` headers, a
 * scheme without a value, Basic values that are not base64 of `user:password`, or two kinds of
 * credential at once are refused with a typed error before any provider sees them.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Equal from "effect/Equal"
import * as Hash from "effect/Hash"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { InvalidCredentials, MissingCredentials } from "./AuthError.js"

/**
 * A credential. Secrets are `Redacted`, so logging a credential never prints them.
 *
 * @since 0.1.0
 */
export type Credential = Data.TaggedEnum<{
  Bearer: { readonly token: Redacted.Redacted<string> }
  Basic: { readonly username: string; readonly password: Redacted.Redacted<string> }
  ApiKey: { readonly key: Redacted.Redacted<string>; readonly header: string }
}>

const { ApiKey, Basic, Bearer, $is, $match } = Data.taggedEnum<Credential>()

export {
  /** @since 0.1.0 */
  ApiKey,
  /** @since 0.1.0 */
  Basic,
  /** @since 0.1.0 */
  Bearer,
  /** Type guards by tag: `Credential.is("Bearer")(c)`. @since 0.1.0 */
  $is as is,
  /** Exhaustive matching on the tag. @since 0.1.0 */
  $match as match
}

/**
 * A Bearer credential as {@link parse} reads it from a header, on every request. Wrapping the token in
 * `Redacted` costs a WeakMap entry (about 0.5 µs, and garbage the collector has to trace), so it is made only
 * when `token` is read; providers read the string with {@link bearerToken}. The string sits in a private
 * field, which nothing enumerates, logs or serializes. Being a class instance, it loses `token` when spread:
 * copy it with `Credential.Bearer({ token: credential.token })`.
 */
class ParsedBearer implements Equal.Equal {
  readonly _tag = "Bearer" as const
  readonly #value: string
  #token: Redacted.Redacted<string> | undefined
  constructor(value: string) {
    this.#value = value
  }
  get token(): Redacted.Redacted<string> {
    return (this.#token ??= Redacted.make(this.#value))
  }
  static valueOf(credential: ParsedBearer): string {
    return credential.#value
  }
  // Equal and hashed by value, and logged, as the `Data` value `Credential.Bearer` makes.
  [Equal.symbol](that: Equal.Equal): boolean {
    return that instanceof ParsedBearer && that.#value === this.#value
  }
  [Hash.symbol](): number {
    return Hash.cached(this, Hash.combine(Hash.string("Bearer"))(Hash.string(this.#value)))
  }
  toJSON(): unknown {
    return { _tag: this._tag, token: "<redacted>" }
  }
}

/**
 * The token of a Bearer credential, as a string (without making its `Redacted` wrapper when `parse` made the
 * credential). For providers; never log it.
 *
 * @since 0.1.0
 */
export const bearerToken = (credential: Extract<Credential, { readonly _tag: "Bearer" }>): string =>
  credential instanceof ParsedBearer ? ParsedBearer.valueOf(credential) : Redacted.value(credential.token)

/**
 * The credential's tag.
 *
 * @since 0.1.0
 */
export type Scheme = Credential["_tag"]

/**
 * Request headers as node (`IncomingMessage.headersDistinct` or `headers`) and most frameworks give
 * them: lower-case names, a string or a list of strings per name.
 *
 * @since 0.1.0
 */
export type Headers = { readonly [name: string]: string | ReadonlyArray<string> | undefined }

/**
 * How to read credentials from headers.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Extra header that carries an API key (case-insensitive). Default `x-api-key`; `false` turns it off. */
  readonly apiKeyHeader?: string | false | undefined
  /** Largest accepted header value in bytes. Default 16 KiB. */
  readonly maxHeaderBytes?: number | undefined
  /**
   * Read a bare `Authorization: <key>` (no scheme, one token of 16–128 letters, digits, `-` or `_`) as an
   * API key with `header: "authorization"`, as the API-key gateways this library replaces did. Default
   * `false`: without it such a value is an unsupported scheme.
   */
  readonly bareApiKey?: boolean | undefined
}

/**
 * The default largest header value: 16 KiB.
 *
 * @since 0.1.0
 */
export const defaultMaxHeaderBytes = 16 * 1024

// RFC 7235 token68: the only characters a Bearer token or a Basic value may contain.
const token68 = /^[A-Za-z0-9\-._~+/]+=*$/
// token68 without `~`, `+`, `/` and `=`: base64url characters and dots, a JWT's alphabet. Tried first, since a
// value that has it is a token68 too, so one scan answers both questions for the common bearer token.
const urlSafeToken68 = /^[A-Za-z0-9\-._]+$/
const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const apiKeyCharacters = /^[\x21-\x7e]+$/
// The API key grammar (`ApiKey.isValidKey`): a bare Authorization value is a key only when it is exactly this.
const bareApiKey = /^[A-Za-z0-9_-]{16,128}$/
// RFC 7617: neither user-id nor password may contain control characters.
// eslint-disable-next-line no-control-regex
const controlCharacters = /[\x00-\x1f\x7f]/
const utf8 = new TextDecoder("utf-8", { fatal: true })

const invalid = (reason: InvalidCredentials["reason"], scheme?: Scheme, detail?: string) =>
  new InvalidCredentials({
    reason,
    ...(scheme === undefined ? {} : { scheme }),
    ...(detail === undefined ? {} : { detail })
  })

/**
 * Exactly one value of a header, refusing duplicates and oversized values. Callers read the header
 * (`headers.authorization`): one read site per name keeps V8's property lookup fast.
 */
const single = (read: Headers[string], maxBytes: number, scheme?: Scheme): string | undefined | InvalidCredentials => {
  if (read === undefined) return undefined
  // `headersDistinct` style: one entry per header line; two Authorization lines are refused.
  if (typeof read !== "string" && read.length > 1) return invalid("multiple-headers", scheme)
  const value: unknown = typeof read === "string" ? read : read[0]
  // Hand-built header objects can hold anything; only a string is a header value.
  if (typeof value !== "string") return undefined
  // Length in UTF-16 units bounds the byte length from below; measure bytes only when it could matter.
  if (value.length > maxBytes || (value.length * 3 > maxBytes && Buffer.byteLength(value) > maxBytes)) {
    return invalid("too-large", scheme)
  }
  return value
}

/**
 * Whether a value is an RFC 7235 token68, the only form a Bearer token may have. A provider that asks about
 * the token the parser has just checked gets its answer from one comparison instead of a second scan.
 *
 * @since 0.1.0
 */
export const isToken68 = (value: string): boolean => isLastToken68(value) || checkToken68(value)

/**
 * Whether a value is a token68 of base64url characters and dots only (no `~`, `+`, `/` or `=`): the alphabet
 * of a JWT. Like `isToken68`, the token the parser has just checked costs a comparison.
 *
 * @since 0.1.0
 */
export const isUrlSafeToken68 = (value: string): boolean =>
  isLastToken68(value) ? lastUrlSafe : checkToken68(value) && lastUrlSafe

/** The value last found to be a token68 (a string cannot change, so the answer stays true). */
let lastToken68 = ""
/** Whether `lastToken68` is also url-safe (`isUrlSafeToken68`). */
let lastUrlSafe = false

/**
 * Whether `value` is the last token68: a client that repeats its token skips the scan. Tokens of one issuer
 * share a long prefix and often their length, so the last characters are compared first, and a different
 * token almost never costs a full comparison.
 */
const isLastToken68 = (value: string): boolean => {
  const last = lastToken68
  const end = value.length - 1
  return (
    end > 0 &&
    end === last.length - 1 &&
    value.charCodeAt(end) === last.charCodeAt(end) &&
    value.charCodeAt(end - 1) === last.charCodeAt(end - 1) &&
    value === last
  )
}

/** The scan, remembering a value that passes. */
const checkToken68 = (value: string): boolean => {
  const urlSafe = urlSafeToken68.test(value)
  if (!urlSafe && !token68.test(value)) return false
  lastToken68 = value
  lastUrlSafe = urlSafe
  return true
}

const parseBasic = (value: string): Credential | InvalidCredentials => {
  if (!base64.test(value)) return invalid("bad-encoding", "Basic", "The Basic credential is not valid base64")
  let decoded: string
  try {
    decoded = utf8.decode(Buffer.from(value, "base64"))
  } catch {
    return invalid("bad-encoding", "Basic", "The Basic credential is not valid UTF-8")
  }
  // RFC 7617: the user-id cannot contain a colon, the password may; split on the first one.
  const colon = decoded.indexOf(":")
  if (colon < 0) return invalid("malformed", "Basic", "The Basic credential has no ':' between user and password")
  const username = decoded.slice(0, colon)
  const password = decoded.slice(colon + 1)
  if (username.length === 0) return invalid("malformed", "Basic", "The Basic credential has an empty user name")
  if (controlCharacters.test(username) || controlCharacters.test(password)) {
    return invalid("malformed", "Basic", "The Basic credential contains control characters")
  }
  return Basic({ username, password: Redacted.make(password) })
}

const parseAuthorization = (
  header: string,
  allowBareApiKey: boolean
): Credential | InvalidCredentials | MissingCredentials => {
  // The common case, `Bearer <token>` as clients send it, without trimming and lower-casing copies.
  if (header.startsWith("Bearer ")) {
    const token = header.slice(7)
    if (isToken68(token)) return new ParsedBearer(token)
  }
  const value = header.trim()
  if (value.length === 0) return new MissingCredentials({ reason: "empty" })
  const space = value.search(/[ \t]/)
  const scheme = (space < 0 ? value : value.slice(0, space)).toLowerCase()
  const rest = space < 0 ? "" : value.slice(space + 1).trim()
  switch (scheme) {
    case "bearer": {
      if (rest.length === 0) return invalid("malformed", "Bearer", "The Bearer scheme has no token")
      if (!isToken68(rest)) return invalid("malformed", "Bearer", "The Bearer token has characters it cannot have")
      return new ParsedBearer(rest)
    }
    case "basic": {
      if (rest.length === 0) return invalid("malformed", "Basic", "The Basic scheme has no credentials")
      return parseBasic(rest)
    }
    default:
      // Only a single token of the key grammar: anything else (`Digest ...`, a typo'd scheme with a value)
      // stays an unsupported scheme instead of being tried as a key.
      if (allowBareApiKey && space < 0 && bareApiKey.test(value)) {
        return ApiKey({ key: Redacted.make(value), header: "authorization" })
      }
      return invalid("unsupported-scheme")
  }
}

/**
 * Reads the request's credential from its headers, synchronously. Returns the credential or the error;
 * for use on hot paths that avoid an Effect per request. See {@link fromHeaders}.
 *
 * @since 0.1.0
 */
export const parse = (
  headers: Headers,
  options: Options = {}
): Credential | MissingCredentials | InvalidCredentials => {
  const maxBytes = options.maxHeaderBytes ?? defaultMaxHeaderBytes
  const apiKeyHeader = options.apiKeyHeader === false ? undefined : (options.apiKeyHeader ?? "x-api-key").toLowerCase()

  const authorization = single(headers.authorization, maxBytes)
  if (authorization instanceof InvalidCredentials) return authorization
  const apiKey = apiKeyHeader === undefined ? undefined : single(headers[apiKeyHeader], maxBytes, "ApiKey")
  if (apiKey instanceof InvalidCredentials) return apiKey

  if (authorization !== undefined && apiKey !== undefined) {
    // Two credentials could name two callers; refuse rather than pick one.
    return invalid("multiple-credentials")
  }
  if (authorization !== undefined) return parseAuthorization(authorization, options.bareApiKey === true)
  if (apiKey !== undefined && apiKeyHeader !== undefined) {
    const key = apiKey.trim()
    if (key.length === 0) return new MissingCredentials({ reason: "empty" })
    if (!apiKeyCharacters.test(key)) return invalid("malformed", "ApiKey", "The API key has characters it cannot have")
    return ApiKey({ key: Redacted.make(key), header: apiKeyHeader })
  }
  return new MissingCredentials({ reason: "absent" })
}

/**
 * Reads the request's credential from its headers.
 *
 * @example
 * ```ts
 * import { Credential } from "@effect-auth/core"
 *
 * const credential = Credential.fromHeaders({ authorization: "Bearer eyJhbGciOi..." })
 * ```
 *
 * @since 0.1.0
 */
export const fromHeaders = (
  headers: Headers,
  options?: Options
): Effect.Effect<Credential, MissingCredentials | InvalidCredentials> =>
  Effect.suspend(() => {
    const result = parse(headers, options)
    return result instanceof MissingCredentials || result instanceof InvalidCredentials
      ? Effect.fail(result)
      : Effect.succeed(result)
  })

/**
 * Converts a fetch `Headers` object (which joins repeated headers with `, `) into {@link Headers}.
 *
 * @since 0.1.0
 */
export const headersFromWeb = (headers: globalThis.Headers): Headers => {
  const out: Record<string, string> = {}
  headers.forEach((value, name) => {
    out[name] = value
  })
  return out
}

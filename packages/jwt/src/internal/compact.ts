/**
 * Strict reading of a JWS compact serialization, before any key is looked at.
 *
 * jose is lenient where an attacker could exploit the difference between two parsers: it accepts
 * non-canonical base64url and keeps the last of duplicate JSON members. This module refuses both, so
 * the bytes we check are the only reading of the token.
 */
import { AuthError, Credential } from "@effect-auth/core"
import * as Either from "effect/Either"
import { isUtf8 } from "node:buffer"

type InvalidToken = AuthError.InvalidToken
const InvalidToken = AuthError.InvalidToken

/** A token split, decoded and parsed (header and claims frozen all the way down), nothing verified. */
export interface Decoded {
  readonly header: Readonly<Record<string, unknown>>
  readonly claims: Readonly<Record<string, unknown>>
  readonly signingInput: string
  readonly signature: Uint8Array
}

const base64url = /^[A-Za-z0-9_-]*$/
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

const malformed = (detail: string) => new InvalidToken({ reason: "malformed", detail })

/** Whether a token's UTF-8 length is over `maxBytes`, without encoding it when the answer is obvious. */
export const isTooLarge = (token: string, maxBytes: number): boolean =>
  // A UTF-16 length bounds the UTF-8 length from below; count bytes only when it could matter.
  token.length > maxBytes || (token.length * 3 > maxBytes && Buffer.byteLength(token, "utf8") > maxBytes)

/**
 * Whether a segment is strict base64url: the URL-safe alphabet only, no padding, and canonical, i.e. the
 * unused low bits of the last character are zero. Two spellings of one signature must not both verify.
 * `alphabetChecked`: the caller knows the segment holds base64url characters only.
 */
const isStrictBase64url = (segment: string, alphabetChecked: boolean): boolean => {
  if (!alphabetChecked && !base64url.test(segment)) return false
  const rest = segment.length % 4
  if (rest === 1) return false
  if (rest === 0) return true
  const last = alphabet.indexOf(segment.charAt(segment.length - 1))
  // Two trailing characters carry 8 bits of 12, three carry 16 of 18.
  return (last & (rest === 2 ? 0b1111 : 0b11)) === 0
}

/** Decodes strict base64url (see `isStrictBase64url`), or `undefined`. */
const decodeBase64url = (segment: string, alphabetChecked: boolean): Buffer | undefined =>
  isStrictBase64url(segment, alphabetChecked) ? Buffer.from(segment, "base64url") : undefined

/**
 * Where JSON segments are decoded. Their text is read out at once, so one buffer serves every token and a
 * request allocates no buffer for its payload.
 */
let scratch = Buffer.allocUnsafe(1024)

/** The UTF-8 text of a strict base64url segment, or `undefined` (empty, or not UTF-8). */
const decodeText = (segment: string, alphabetChecked: boolean): string | undefined => {
  if (!isStrictBase64url(segment, alphabetChecked)) return undefined
  const size = Math.floor((segment.length * 3) / 4)
  if (scratch.length < size) scratch = Buffer.allocUnsafe(size)
  const length = scratch.write(segment, "base64url")
  if (length === 0) return undefined
  const text = scratch.toString("utf8", 0, length)
  // Invalid UTF-8 is refused, never replaced by U+FFFD (which could make two byte strings one text). Decoding
  // puts a U+FFFD in the text for every invalid sequence, so only a text holding one needs the bytes checked.
  if (text.includes("\uFFFD") && !isUtf8(scratch.subarray(0, length))) return undefined
  return text
}

/**
 * Whether every character of the token is base64url's or a dot, checked on the whole token at once (for a
 * token the credential parser has just read, a comparison: its scan told this too). When not, each segment is
 * checked on its own, to say which is wrong.
 */
const hasCompactAlphabet = (token: string): boolean => Credential.isUrlSafeToken68(token)

/** Whether the quote at `at` is escaped, i.e. preceded by an odd number of backslashes. */
const isEscaped = (text: string, at: number): boolean => {
  let backslashes = 0
  while (text.charCodeAt(at - 1 - backslashes) === 0x5c /* \ */) backslashes++
  return backslashes % 2 === 1
}

/**
 * How many member names valid JSON text spells. Outside strings every quote opens one; a string is a name
 * exactly when the next character after it that is not whitespace is a colon.
 */
const countNames = (text: string): number => {
  let names = 0
  let open = text.indexOf('"')
  while (open !== -1) {
    let close = text.indexOf('"', open + 1)
    while (isEscaped(text, close)) close = text.indexOf('"', close + 1)
    let next = close + 1
    let c = text.charCodeAt(next)
    while (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) c = text.charCodeAt(++next)
    if (c === 0x3a /* : */) names++
    open = text.indexOf('"', next)
  }
  return names
}

/**
 * Freezes parsed JSON all the way down, so that one reader cannot change what another reads, and returns how
 * many members its objects have in all: one walk serves the duplicate check and the freezing. Iterative: deep
 * nesting cannot overflow.
 */
const freezeCountingMembers = (value: unknown): number => {
  let members = 0
  const pending: Array<unknown> = [value]
  while (pending.length > 0) {
    const next = pending.pop()
    if (typeof next !== "object" || next === null) continue
    Object.freeze(next)
    if (Array.isArray(next)) {
      for (const item of next) if (typeof item === "object" && item !== null) pending.push(item)
      continue
    }
    for (const name in next) {
      // Own members only: an enumerable property someone added to Object.prototype is not in the text.
      if (!Object.hasOwn(next, name)) continue
      members++
      const member: unknown = (next as Record<string, unknown>)[name]
      if (typeof member === "object" && member !== null) pending.push(member)
    }
  }
  return members
}

/**
 * Whether valid JSON text has two members with the same name in one object (compared after unescaping:
 * `"s\u0075b"` is `"sub"`). `JSON.parse` keeps only the last of them, so its objects then hold fewer members
 * than the text has names; otherwise exactly as many. Freezes `parsed` on the way (see `freezeCountingMembers`).
 */
export const hasDuplicateMembers = (text: string, parsed: unknown): boolean =>
  countNames(text) !== freezeCountingMembers(parsed)

/** A base64url JSON object segment, parsed and frozen, or `undefined`. */
const parseObject = (segment: string, alphabetChecked: boolean): Readonly<Record<string, unknown>> | undefined => {
  // A byte-order mark stays in the text, so JSON.parse refuses it instead of it being dropped silently.
  const text = decodeText(segment, alphabetChecked)
  if (text === undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
  // JSON.parse keeps the last duplicate and jose does the same; another parser may keep the first.
  if (hasDuplicateMembers(text, value)) return undefined
  return value as Readonly<Record<string, unknown>>
}

/**
 * Parsed headers by their encoded text, frozen. An issuer's tokens share a handful of headers (one per
 * signing key), so most tokens skip the header's decoding; a flood of distinct headers only refills it.
 */
const headers = new Map<string, Readonly<Record<string, unknown>>>()
const maxHeaders = 64

/** The header read last: most tokens repeat it, and comparing a prefix costs less than hashing it for the map. */
let lastHeader: { readonly segment: string; readonly header: Readonly<Record<string, unknown>> } | undefined

/** The header of `token`, whose first segment ends at `end`. */
const parseHeader = (
  token: string,
  end: number,
  alphabetChecked: boolean
): Readonly<Record<string, unknown>> | undefined => {
  const last = lastHeader
  if (last !== undefined && last.segment.length === end && token.startsWith(last.segment)) return last.header
  const segment = token.slice(0, end)
  let header = headers.get(segment)
  if (header === undefined) {
    const parsed = parseObject(segment, alphabetChecked)
    if (parsed === undefined) return undefined
    if (headers.size >= maxHeaders) headers.clear()
    header = parsed
    headers.set(segment, header)
  }
  lastHeader = { segment, header }
  return header
}

/**
 * Splits and parses a compact JWS: exactly three segments of strict base64url; header and payload
 * UTF-8 JSON objects without duplicate member names; `alg` a string. The size is checked first.
 */
export const decode = (token: string, maxBytes: number): Either.Either<Decoded, InvalidToken> => {
  const read = peeked
  if (read !== undefined) {
    peeked = undefined
    // The provider read this token's issuer just before: its decoding is reused, once.
    if (read.token === token && read.maxBytes === maxBytes) return read.result
  }
  return decodeUncached(token, maxBytes)
}

/** The token `peekIssuer` decoded last, for the `decode` of the same token that follows it. */
let peeked:
  | {
      readonly token: string
      readonly maxBytes: number
      readonly result: Either.Either<Decoded, InvalidToken>
    }
  | undefined

const decodeUncached = (token: string, maxBytes: number): Either.Either<Decoded, InvalidToken> => {
  if (isTooLarge(token, maxBytes)) {
    return Either.left(new InvalidToken({ reason: "too-large", detail: "The token is larger than allowed" }))
  }
  const shape = lastShape
  lastShape = undefined
  const scanned = shape !== undefined && shape.token === token
  const first = scanned ? shape.first : token.indexOf(".")
  const second = scanned ? shape.second : token.indexOf(".", first + 1)
  if (!scanned && (first === -1 || second === -1 || token.indexOf(".", second + 1) !== -1)) {
    return Either.left(malformed("The token does not have three segments"))
  }
  const encodedPayload = token.slice(first + 1, second)
  const encodedSignature = token.slice(second + 1)
  const alphabetChecked = scanned || hasCompactAlphabet(token)
  const header = parseHeader(token, first, alphabetChecked)
  if (header === undefined) return Either.left(malformed("The token header is not a base64url JSON object"))
  if (typeof header.alg !== "string") return Either.left(malformed("The token header has no algorithm"))
  const claims = parseObject(encodedPayload, alphabetChecked)
  if (claims === undefined) return Either.left(malformed("The token payload is not a base64url JSON object"))
  const signature = decodeBase64url(encodedSignature, alphabetChecked)
  if (signature === undefined) return Either.left(malformed("The token signature is not base64url"))
  // A slice of the token, not a concatenation: it is encoded for the signature check as one flat string.
  const signingInput = token.slice(0, second)
  return Either.right({ header, claims, signingInput, signature })
}

/**
 * Whether a string has the shape of a signed JWT: three non-empty base64url segments, the first starting like
 * a JSON object. Decodes nothing; for choosing a provider only.
 */
export const looksLikeJwt = (token: string): boolean => {
  if (!token.startsWith("eyJ")) return false
  const first = token.indexOf(".")
  const second = token.indexOf(".", first + 1)
  const looksLike =
    second > first + 1 &&
    second < token.length - 1 &&
    token.indexOf(".", second + 1) === -1 &&
    hasCompactAlphabet(token)
  if (looksLike) lastShape = { token, first, second }
  return looksLike
}

/**
 * The token `looksLikeJwt` accepted last, with its two dots (it holds base64url characters besides): the
 * decoding that follows it, once, reuses that scan instead of repeating it.
 */
let lastShape: { readonly token: string; readonly first: number; readonly second: number } | undefined

/**
 * The unverified `iss` claim, for choosing which issuer verifies the token; never for trusting it.
 */
export const peekIssuer = (token: string, maxBytes: number): string | undefined => {
  const decoded =
    peeked !== undefined && peeked.token === token && peeked.maxBytes === maxBytes
      ? peeked.result
      : decodeUncached(token, maxBytes)
  peeked = { token, maxBytes, result: decoded }
  if (Either.isLeft(decoded)) return undefined
  const iss = decoded.right.claims.iss
  return typeof iss === "string" ? iss : undefined
}

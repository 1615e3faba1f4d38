/**
 * The permission grammar: dot-separated names, a final `*` segment as a wildcard, and deny entries
 * written with a leading `!` that win over every grant.
 *
 * - `documents.read` matches only `documents.read` (case-sensitive, no prefix matching, no normalisation).
 * - `documents.*` matches `documents.read` and `documents.read.own`, not `documents` itself.
 * - `*` alone matches every permission. A `*` anywhere else (`doc*`, `a.*.b`) is not a wildcard.
 * - `!documents.delete` or `!documents.*` deny what they match, whatever else is granted. A required
 *   wildcard (`documents.*`, `*`) is refused when any deny lies inside it (`!documents.delete`): holding
 *   the wildcard would no longer mean holding everything it covers.
 * - An invalid entry that contains `!` may be a mistyped deny: a list holding one allows nothing.
 *
 * A permission is a string of at most 255 characters of non-empty `.`-separated segments, without
 * whitespace, control or format characters (`U+200B`) or lone surrogates.
 *
 * @since 0.1.0
 */

/**
 * The longest permission, in characters (code points), deny marker included: what fits a `VARCHAR(255)`.
 *
 * @since 0.1.0
 */
export const maxLength = 255

const denyMarker = "!"
const wildcard = "*"
const separator = "."
// Format characters are invisible (a zero-width space makes a look-alike name); lone surrogates are not text.
const forbiddenCharacters = /[\s\p{Cc}\p{Cf}\p{Cs}]/u

const withinLength = (value: string): boolean =>
  // A UTF-16 length within the bound is within it in code points too; only longer strings are counted.
  value.length <= maxLength || (value.length <= maxLength * 2 && Array.from(value).length <= maxLength)

/** Printable ASCII without space: the common case, which needs no Unicode property test. */
const isPlainAscii = (value: string): boolean => {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if (code < 0x21 || code > 0x7e) return false
  }
  return true
}

const isValidGrant = (grant: string): boolean => {
  if (grant.length === 0 || grant.startsWith(denyMarker)) return false
  if (!isPlainAscii(grant) && forbiddenCharacters.test(grant)) return false
  // No empty segment.
  if (grant.startsWith(separator) || grant.endsWith(separator) || grant.includes(separator + separator)) return false
  const star = grant.indexOf(wildcard)
  // The only wildcard is a whole final segment: `*` alone or ending in `.*`.
  return star === -1 || (star === grant.length - 1 && (grant.length === 1 || grant[star - 1] === separator))
}

/**
 * Whether a string is a well-formed grant (`documents.read`, `documents.*`, `*`) or deny (`!documents.*`).
 *
 * @since 0.1.0
 */
export const isValid = (permission: string): boolean =>
  withinLength(permission) &&
  isValidGrant(permission.startsWith(denyMarker) ? permission.slice(denyMarker.length) : permission)

/**
 * Whether an entry is a deny (`!documents.delete`).
 *
 * @since 0.1.0
 */
export const isDeny = (permission: string): boolean => permission.startsWith(denyMarker)

// An invalid entry with a `!` anywhere may be a deny someone mistyped (`!documents.delete `,
// ` !documents.delete`): honouring the grants beside it would fail open.
const isMalformedDeny = (permission: string): boolean => permission.includes(denyMarker) && !isValid(permission)

/**
 * Whether a grant pattern (without `!`) matches a permission: equal, or a valid wildcard whose prefix
 * the permission extends by at least one segment. A malformed pattern only matches itself.
 *
 * @example
 * ```ts
 * import { Permission } from "@effect-auth/core"
 *
 * Permission.matches("documents.*", "documents.read.own") // true
 * Permission.matches("documents.*", "documents") // false
 * Permission.matches("Documents.read", "documents.read") // false
 * ```
 *
 * @since 0.1.0
 */
export const matches = (pattern: string, permission: string): boolean =>
  pattern === permission ||
  (pattern.endsWith(wildcard) && !isDeny(pattern) && isValid(pattern) && matchesValid(pattern, permission))

/** {@link matches} for a pattern already known to be a valid grant. */
const matchesValid = (pattern: string, permission: string): boolean => {
  if (pattern === permission) return true
  if (!pattern.endsWith(wildcard)) return false
  const prefix = pattern.slice(0, -wildcard.length)
  return permission.length > prefix.length && permission.startsWith(prefix)
}

/**
 * Whether `held` (a permission list with grants and denies) allows `required`: no deny matches it, and
 * some grant equals or matches it. Fails closed: a required permission that is not valid grammar is
 * never allowed, a required wildcard is refused when a deny lies inside it (`documents.*` with
 * `!documents.delete` held), and nothing is allowed when `held` has an invalid entry containing `!`.
 *
 * @example
 * ```ts
 * import { Permission } from "@effect-auth/core"
 *
 * const held = ["documents.*", "!documents.delete"]
 * Permission.allows(held, "documents.read") // true
 * Permission.allows(held, "documents.delete") // false: deny wins
 * Permission.allows(held, "documents.*") // false: a deny lies inside the wildcard
 * ```
 *
 * @since 0.1.0
 */
export const allows = (held: ReadonlyArray<string>, required: string): boolean => {
  if (!isValid(required) || isDeny(required)) return false
  const requiresWildcard = required.endsWith(wildcard)
  let granted = false
  for (const entry of held) {
    if (isMalformedDeny(entry)) return false
    if (isDeny(entry)) {
      const denied = entry.slice(denyMarker.length)
      if (matches(denied, required) || (requiresWildcard && matches(required, denied))) return false
    } else if (!granted && matches(entry, required)) {
      granted = true
    }
  }
  return granted
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * An effective permission list: invalid entries dropped, duplicates removed, grants a deny covers
 * dropped (the deny stays, so a broader grant elsewhere is still refused), grants sorted, then denies
 * sorted. An invalid entry containing `!` (`!documents.delete `) may be a mistyped deny, so it drops
 * every grant and only the valid denies are kept: the list allows nothing (fail closed).
 *
 * @example
 * ```ts
 * import { Permission } from "@effect-auth/core"
 *
 * Permission.normalize(["documents.read", "documents.*", "!documents.delete", "doc*"])
 * // ["documents.*", "!documents.delete"]
 * Permission.normalize(["documents.*", "!documents.delete "]) // []
 * ```
 *
 * @since 0.1.0
 */
export const normalize = (permissions: Iterable<string>): ReadonlyArray<string> => {
  const grants = new Set<string>()
  const denies = new Set<string>()
  let malformedDeny = false
  for (const permission of permissions) {
    if (!isValid(permission)) malformedDeny ||= permission.includes(denyMarker)
    else if (isDeny(permission)) denies.add(permission)
    else grants.add(permission)
  }
  const denyPatterns = Array.from(denies, (deny) => deny.slice(denyMarker.length))
  const kept = malformedDeny
    ? []
    : Array.from(grants).filter((grant) => !denyPatterns.some((pattern) => matchesValid(pattern, grant)))
  return [...kept.sort(byCodeUnit), ...Array.from(denies).sort(byCodeUnit)]
}

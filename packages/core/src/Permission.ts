/**
 * The permission grammar: dot-separated names, a final `*` segment as a wildcard, and deny entries
 * written with a leading `!` that win over every grant.
 *
 * - `documents.read` matches only `documents.read` (case-sensitive, no prefix matching, no normalisation).
 * - `documents.*` matches `documents.read` and `documents.read.own`, not `documents` itself.
 * - `*` alone matches every permission. A `*` anywhere else (`doc*`, `a.*.b`) is not a wildcard.
 * - `!documents.delete` or `!documents.*` deny what they match, whatever else is granted.
 *
 * A permission is a non-empty string of at most 255 characters without whitespace or control characters.
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
const forbiddenCharacters = /[\s\p{Cc}]/u

const withinLength = (value: string): boolean =>
  // A UTF-16 length within the bound is within it in code points too; only longer strings are counted.
  value.length <= maxLength || (value.length <= maxLength * 2 && Array.from(value).length <= maxLength)

const isValidGrant = (grant: string): boolean => {
  if (grant.length === 0 || grant.startsWith(denyMarker) || forbiddenCharacters.test(grant)) return false
  const star = grant.indexOf(wildcard)
  // The only wildcard is a whole final segment: `*` alone or ending in `.*`.
  return star === -1 || (star === grant.length - 1 && (grant.length === 1 || grant[star - 1] === "."))
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
export const matches = (pattern: string, permission: string): boolean => {
  if (pattern === permission) return true
  if (!pattern.endsWith(wildcard) || !isValid(pattern) || isDeny(pattern)) return false
  const prefix = pattern.slice(0, -wildcard.length)
  return permission.length > prefix.length && permission.startsWith(prefix)
}

/**
 * Whether `held` (an effective permission list with grants and denies) allows `required`: no deny
 * matches it, and some grant equals or matches it. A required permission that is not valid grammar is
 * never allowed (fail closed).
 *
 * @example
 * ```ts
 * import { Permission } from "@effect-auth/core"
 *
 * const held = ["documents.*", "!documents.delete"]
 * Permission.allows(held, "documents.read") // true
 * Permission.allows(held, "documents.delete") // false: deny wins
 * ```
 *
 * @since 0.1.0
 */
export const allows = (held: ReadonlyArray<string>, required: string): boolean => {
  if (!isValid(required) || isDeny(required)) return false
  let granted = false
  for (const entry of held) {
    if (isDeny(entry)) {
      if (matches(entry.slice(denyMarker.length), required)) return false
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
 * sorted.
 *
 * @since 0.1.0
 */
export const normalize = (permissions: Iterable<string>): ReadonlyArray<string> => {
  const grants = new Set<string>()
  const denies = new Set<string>()
  for (const permission of permissions) {
    if (!isValid(permission)) continue
    if (isDeny(permission)) denies.add(permission)
    else grants.add(permission)
  }
  const denyPatterns = Array.from(denies, (deny) => deny.slice(denyMarker.length))
  const kept = Array.from(grants).filter((grant) => !denyPatterns.some((pattern) => matches(pattern, grant)))
  return [...kept.sort(byCodeUnit), ...Array.from(denies).sort(byCodeUnit)]
}

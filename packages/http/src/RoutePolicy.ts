/**
 * Route policies: which paths are public and what the others require, read from a JSON table such as
 * `[{ "path": "/admin/*", "require": { "groups": ["admin"] } }, { "path": "/docs/*", "public": true }]`.
 *
 * Matching is built to be safe in front of servers that interpret paths differently:
 * - a path that could mean two things (dot segments, `//`, encoded `/` or `\`, bad or double
 *   percent-encoding, encoded `?` or `#`, control characters, `;` path parameters, a segment ending in `.`,
 *   text that Unicode compatibility normalization changes) is refused outright, so the gateway and the upstream can never disagree on which route was asked for;
 * - percent-encoded characters are decoded once before matching (`/%61dmin` is `/admin`);
 * - requirements match case-insensitively (`/ADMIN` is still protected) while `public` matches only the
 *   exact case written, so case tricks can make a path stricter, never more open;
 * - `/exact` also matches `/exact/`; the most specific pattern wins (exact before prefix, longer before
 *   shorter); unknown keys or empty lists in the table stop it from loading; a path no route names
 *   needs an authenticated caller: nothing is public unless a route says so.
 *
 * @since 0.1.0
 */
import { Policy } from "@effect-auth/core"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * What a route requires: any of the listed groups, roles or permissions (each list any-of, or all-of
 * with `all: true`); every list that is present must be satisfied.
 *
 * @since 0.1.0
 */
const Names = Schema.NonEmptyArray(Schema.NonEmptyTrimmedString)

export const Requirement = Schema.Struct({
  groups: Schema.optional(Names),
  roles: Schema.optional(Names),
  permissions: Schema.optional(Names),
  all: Schema.optional(Schema.Boolean)
}).pipe(
  Schema.filter(
    (requirement) =>
      requirement.groups !== undefined ||
      requirement.roles !== undefined ||
      requirement.permissions !== undefined ||
      "a requirement lists groups, roles or permissions (leave `require` out to allow any authenticated caller)"
  )
)

/**
 * @since 0.1.0
 */
export type Requirement = typeof Requirement.Type

const Pattern = Schema.String.pipe(
  Schema.filter(
    (path) =>
      /^\/[^*]*$/.test(path) ||
      /^\/([^*]*\/)?\*$/.test(path) ||
      `a route path starts with "/" and may only end in "/*" as a wildcard, got ${JSON.stringify(path)}`
  )
)

/**
 * One route: a pattern (`/exact` or `/prefix/*`, which also matches `/prefix` itself), and either
 * `public: true` or a `require`ment. A route with neither needs any authenticated caller.
 *
 * @since 0.1.0
 */
export const Route = Schema.Struct({
  path: Pattern,
  public: Schema.optional(Schema.Boolean),
  require: Schema.optional(Requirement)
}).pipe(
  Schema.filter(
    (route) =>
      !(route.public === true && route.require !== undefined) || "a route cannot be public and require something"
  )
)

/**
 * @since 0.1.0
 */
export type Route = typeof Route.Type

/**
 * @since 0.1.0
 */
export const Routes = Schema.Array(Route)

/**
 * What a request path needs.
 *
 * @since 0.1.0
 */
export type Decision =
  | { readonly _tag: "Public" }
  | { readonly _tag: "Protected"; readonly policy: Policy.Policy; readonly route: string | undefined }
  | { readonly _tag: "Rejected"; readonly reason: string }

/**
 * A route ready for matching.
 *
 * @since 0.1.0
 */
export interface CompiledRoute {
  readonly pattern: string
  /** The prefix (without the `*`) or exact path, as written and lower-cased. */
  readonly base: string
  readonly lowerBase: string
  readonly prefix: boolean
  readonly isPublic: boolean
  readonly policy: Policy.Policy
}

/**
 * A compiled route table.
 *
 * @since 0.1.0
 */
export interface Table {
  readonly routes: ReadonlyArray<CompiledRoute>
}

const requirementPolicy = (requirement: Requirement | undefined): Policy.Policy => {
  if (requirement === undefined) return Policy.authenticated()
  const options = { all: requirement.all }
  const parts: Array<Policy.Policy> = []
  if (requirement.groups !== undefined) parts.push(Policy.groups(requirement.groups, options))
  if (requirement.roles !== undefined) parts.push(Policy.roles(requirement.roles, options))
  if (requirement.permissions !== undefined) parts.push(Policy.permissions(requirement.permissions, options))
  return parts.length === 0 ? Policy.authenticated() : Policy.and(...parts)
}

/**
 * Case folding for requirement matching. Going through upper case first also folds the characters a
 * server that upper-cases would confuse with ASCII letters (`ſ` → `s`, `ı` → `i`), so they cannot
 * step around a requirement.
 */
const fold = (text: string): string => text.toUpperCase().toLowerCase()

/**
 * Compiles routes, most specific first.
 *
 * @since 0.1.0
 */
export const compile = (routes: ReadonlyArray<Route>): Table => {
  const compiled = routes.map((route): CompiledRoute => {
    const prefix = route.path.endsWith("*")
    const base = prefix ? route.path.slice(0, -1) : route.path
    return {
      pattern: route.path,
      base,
      lowerBase: fold(base),
      prefix,
      isPublic: route.public === true,
      policy: requirementPolicy(route.require)
    }
  })
  // `/admin/*` also matches `/admin`, so an exact `/admin` must outrank it: a prefix counts without its
  // trailing slash, and an exact pattern wins ties.
  const specificity = (route: CompiledRoute) =>
    (route.prefix ? route.base.length - 1 : route.base.length) * 2 + (route.prefix ? 0 : 1)
  return { routes: [...compiled].sort((a, b) => specificity(b) - specificity(a)) }
}

/**
 * Parses and compiles a JSON route table; the error names what is wrong.
 *
 * @since 0.1.0
 */
export const parse = (json: string): Effect.Effect<Table, string> =>
  Effect.try({ try: () => JSON.parse(json) as unknown, catch: () => "the routes file is not valid JSON" }).pipe(
    Effect.flatMap((value) =>
      // Unknown keys are errors: a typo such as `"group"` must stop the start, not open the route.
      Effect.mapError(Schema.decodeUnknown(Routes, { onExcessProperty: "error" })(value), (error) =>
        ParseResult.TreeFormatter.formatErrorSync(error)
      )
    ),
    Effect.map(compile)
  )

// Percent-encodings that would change the path's structure once decoded.
const structuralEscape = /%(2f|5c|00)/i
// eslint-disable-next-line no-control-regex
const controlCharacters = /[\x00-\x1f\x7f]/
// Outside printable ASCII (control characters are refused before this is asked).
const nonAscii = /[^ -~]/

/**
 * The decoded path a route is matched against, or why the path is refused.
 *
 * @since 0.1.0
 */
export const canonicalPath = (rawPath: string): { readonly path: string } | { readonly reason: string } => {
  if (!rawPath.startsWith("/")) return { reason: "the path must start with /" }
  if (rawPath.includes("\\")) return { reason: "the path contains a backslash" }
  if (structuralEscape.test(rawPath)) return { reason: "the path contains an encoded slash, backslash or NUL" }
  let path: string
  try {
    path = decodeURIComponent(rawPath)
  } catch {
    return { reason: "the path has invalid percent-encoding" }
  }
  if (controlCharacters.test(path)) return { reason: "the path contains control characters" }
  // A server that folds Unicode compatibility forms (NFKC: fullwidth `ａｄｍｉｎ` is `admin`) would read another path.
  if (nonAscii.test(path) && path.normalize("NFKC") !== path) {
    return { reason: "the path changes under Unicode compatibility normalization (NFKC)" }
  }
  // Servlet-style servers drop `;parameters` from segments, so `/admin;x/y` would reach `/admin/y` upstream.
  if (path.includes(";")) return { reason: "the path contains a ';'" }
  // A `%` left after decoding was encoded twice: a server that decodes again would see another path.
  // An encoded `?` or `#` would end the path for a server that decodes before splitting.
  if (/[%?#]/.test(path)) return { reason: "the path contains an encoded '%', '?' or '#'" }
  const segments = path.split("/").slice(1)
  for (const [index, segment] of segments.entries()) {
    if (segment === "" && index < segments.length - 1) return { reason: "the path contains an empty segment" }
    if (segment === "." || segment === "..") return { reason: "the path contains a dot segment" }
    if (segment.endsWith(".") || segment.endsWith(" ")) {
      return { reason: "a path segment ends with a dot or a space" }
    }
  }
  return { path }
}

/**
 * `/prefix/*` matches `/prefix` and everything below it; `/exact` matches itself and `/exact/`, which
 * most servers treat as the same resource.
 */
const matchesBase = (route: CompiledRoute, base: string, path: string): boolean =>
  route.prefix ? path.startsWith(base) || path === base.slice(0, -1) : path === base || path === `${base}/`

/**
 * What the path (without the query string) needs under the table.
 *
 * @since 0.1.0
 */
export const decide = (table: Table, rawPath: string): Decision => {
  const canonical = canonicalPath(rawPath)
  if ("reason" in canonical) return { _tag: "Rejected", reason: canonical.reason }
  const lowerPath = fold(canonical.path)
  for (const route of table.routes) {
    if (!matchesBase(route, route.lowerBase, lowerPath)) continue
    if (route.isPublic) {
      // Public routes open a path only when it is written exactly as the route writes it.
      if (matchesBase(route, route.base, canonical.path)) return { _tag: "Public" }
      continue
    }
    return { _tag: "Protected", policy: route.policy, route: route.pattern }
  }
  return { _tag: "Protected", policy: Policy.authenticated(), route: undefined }
}

/**
 * Hostile request paths through `RoutePolicy.decide`, generated with fast-check (seeded): traversal in every
 * spelling (`..`, `%2e%2e`, `%2E.`), encoded and double-encoded slashes and backslashes, `;` parameters,
 * trailing dots and spaces, doubled slashes, case tricks and Unicode lookalikes, over long paths too.
 *
 * The property holds the matcher against the servers behind a gateway: for each way an upstream may read
 * an accepted path (decoding again, turning `\` into `/`, merging slashes, resolving dot segments, dropping
 * `;` parameters and trailing dots, folding case or Unicode compatibility forms), the route that reading
 * reaches must never be stricter than the one the gateway enforced. And a path those readings could change at
 * all is refused outright.
 */
import { RoutePolicy } from "@effect-auth/http"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import fc from "fast-check"
import { performance } from "node:perf_hooks"

const SEED = 0x2f2e2e
const MAX_MILLIS_PER_PATH = 200

const routes = [
  { path: "/admin/*", require: { groups: ["admin"] } },
  { path: "/admin/reports/*", require: { groups: ["auditor"] } },
  { path: "/docs/*", public: true },
  { path: "/docs/internal/*", require: { roles: ["staff"] } },
  { path: "/public", public: true },
  { path: "/api/*" },
  { path: "/key", require: { permissions: ["keys:read"] } }
] as const

const table = Effect.runSync(RoutePolicy.parse(JSON.stringify(routes)))

// ---------------------------------------------------------------------------------------------------------
// The reference: which route a clean path reaches, matched the way the route table documents.

interface Reached {
  readonly pattern: string | undefined
  readonly isPublic: boolean
  /** Whether the route asks for more than an authenticated caller. */
  readonly requires: boolean
}

const bySpecificity = [...routes].sort((a, b) => {
  const weight = (path: string) => (path.endsWith("/*") ? (path.length - 2) * 2 : path.length * 2 + 1)
  return weight(b.path) - weight(a.path)
})

const matches = (pattern: string, path: string) =>
  pattern.endsWith("/*")
    ? path.startsWith(pattern.slice(0, -1)) || path === pattern.slice(0, -2)
    : path === pattern || path === `${pattern}/`

/** Requirements match in any case, public routes only as written; nothing named needs any caller. */
const reach = (path: string, fold: (text: string) => string): Reached => {
  for (const route of bySpecificity) {
    if (!matches(fold(route.path), fold(path))) continue
    if ("public" in route) {
      if (matches(route.path, path)) return { pattern: route.path, isPublic: true, requires: false }
      continue
    }
    return { pattern: route.path, isPublic: false, requires: "require" in route }
  }
  return { pattern: undefined, isPublic: false, requires: false }
}

// ---------------------------------------------------------------------------------------------------------
// How servers read a path

const decodeOnce = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}

/** Decoded until nothing changes, as a chain of servers that each decode would read it. */
const decodeFully = (text: string): string | undefined => {
  let current = text
  for (let i = 0; i < 8; i++) {
    const next = decodeOnce(current)
    if (next === undefined) return i === 0 ? undefined : current
    if (next === current) return current
    current = next
  }
  return current
}

/** `\` as `/`, `;params` dropped, trailing dots and spaces dropped, `//` merged, dot segments resolved. */
const normalizeStructure = (path: string): string => {
  const segments = path
    .replace(/\\/g, "/")
    .split("/")
    .map((segment) => segment.replace(/;.*$/, "").replace(/[. ]+$/, (tail) => (/^\.+$/.test(segment) ? tail : "")))
  const out: Array<string> = []
  segments.slice(1).forEach((segment, index, all) => {
    if (segment === "." || (segment === "" && index < all.length - 1)) return
    if (segment === "..") out.pop()
    else out.push(segment)
  })
  return `/${out.join("/")}`
}

/** Case folds a server may apply before matching (lower-casing, upper-casing first as IIS does). */
const folds: ReadonlyArray<(text: string) => string> = [
  (text) => text.toLowerCase(),
  (text) => text.toUpperCase().toLowerCase()
]

/** Unicode compatibility folds (NFKC: fullwidth `ａｄｍｉｎ` is `admin`) a server may apply as well. */
const compatibilityFolds: ReadonlyArray<(text: string) => string> = [
  (text) => text.normalize("NFKC").toLowerCase(),
  (text) => text.normalize("NFKC").toUpperCase().toLowerCase()
]

/** Every reading of the raw path an upstream server might make. */
const readings = (raw: string): ReadonlyArray<string> => {
  const once = decodeOnce(raw)
  const fully = decodeFully(raw)
  const bases = [once, fully].filter((p): p is string => p !== undefined)
  return [...new Set(bases.flatMap((p) => [p, normalizeStructure(p)]))]
}

// ---------------------------------------------------------------------------------------------------------
// Paths

const pieces = [
  "admin",
  "ADMIN",
  "Admin",
  "reports",
  "REPORTS",
  "docs",
  "Docs",
  "internal",
  "public",
  "api",
  "key",
  "x",
  "ａｄｍｉｎ",
  "adm\u0131n",
  "\u212aey",
  "\u017fecret",
  "%61dmin",
  "%41DMIN",
  "a%64min",
  "%ef%bd%81dmin",
  "..",
  ".",
  "%2e%2e",
  "%2E.",
  ".%2e",
  "%2e",
  "%252e%252e",
  "%2f",
  "%2F",
  "%5c",
  "%5C",
  "%252f",
  "%255c",
  "%25",
  "%00",
  "%0a",
  "\\",
  "admin.",
  "admin..",
  "admin%2e",
  "admin%20",
  "admin ",
  "admin;x=1",
  ";",
  "%3b",
  "%3f",
  "%23",
  "%c0%ae",
  "%e2%80%8b",
  "%",
  ""
]

const plainPieces = ["admin", "ADMIN", "reports", "docs", "internal", "public", "api", "key", "x", "ａｄｍｉｎ"]
/** Plain names half the time, so that many paths survive the refusals and reach the routes. */
const pieceArb = fc.oneof(fc.constantFrom(...plainPieces), fc.constantFrom(...pieces))
const separatorArb = fc.constantFrom("/", "/", "/", "/", "/", "/", "//", "\\", "/./", "/../", "%2f")
const pathArb = fc
  .oneof(
    {
      weight: 8,
      arbitrary: fc.array(fc.tuple(separatorArb, pieceArb), { minLength: 1, maxLength: 7 })
    },
    // Long paths: the matcher must stay linear.
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...pieces), fc.integer({ min: 500, max: 4_000 }))
        .map(([piece, count]) => Array.from({ length: count }, () => ["/", piece] as [string, string]))
    }
  )
  .chain((parts) =>
    fc.record({
      lead: fc.constantFrom("", "/", "/", "/", "/", "/", "/", "//"),
      body: fc.constant(
        parts
          .map(([separator, piece]) => `${separator}${piece}`)
          .join("")
          .replace(/^\//, "")
      ),
      trailing: fc.constantFrom("", "", "", "", "", "/", "/.", "%2f", ";")
    })
  )

/** Paths under the public routes, where a trick that escapes to a protected route would matter most. */
const underPublicArb = fc
  .tuple(
    fc.constantFrom("/docs/", "/docs", "/Docs/", "/public", "/public/", "/docs/internal/"),
    fc.array(fc.tuple(separatorArb, pieceArb), { maxLength: 4 })
  )
  .map(([start, parts]) => `${start}${parts.map(([separator, piece]) => `${separator}${piece}`).join("")}`)

const rawPathArb = fc.oneof(
  { weight: 3, arbitrary: pathArb.map(({ body, lead, trailing }) => `${lead}${body}${trailing}`) },
  { weight: 1, arbitrary: underPublicArb }
)

describe("RoutePolicy.decide on hostile paths (fast-check)", () => {
  it("is never more permissive than any server's reading of the path, and refuses paths readings change", () => {
    const tally = { Public: 0, Protected: 0, Rejected: 0 }
    fc.assert(
      fc.property(rawPathArb, (raw) => {
        const start = performance.now()
        const decision = RoutePolicy.decide(table, raw)
        expect(performance.now() - start).toBeLessThan(MAX_MILLIS_PER_PATH)
        tally[decision._tag]++
        if (decision._tag === "Rejected") {
          expect(decision.reason.length).toBeGreaterThan(0)
          return
        }

        // Unambiguous: decoding again or normalising the structure reads the very same path.
        const once = decodeOnce(raw)
        assert(once !== undefined, `${JSON.stringify(raw.slice(0, 120))} was decided although it does not decode`)
        expect(decodeFully(raw), raw.slice(0, 120)).toBe(once)
        expect(normalizeStructure(once), raw.slice(0, 120)).toBe(once)

        // What the gateway enforced, in reference terms.
        const enforced: Reached =
          decision._tag === "Public"
            ? { pattern: undefined, isPublic: true, requires: false }
            : {
                pattern: decision.route,
                isPublic: false,
                requires:
                  decision.route !== undefined && routes.some((r) => r.path === decision.route && "require" in r)
              }
        if (decision._tag === "Public") {
          // A public path is public exactly as written, before any folding.
          expect(reach(once, (text) => text).isPublic, raw.slice(0, 120)).toBe(true)
        }
        const shown = (text: string) => JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text)
        for (const reading of readings(raw)) {
          for (const fold of [...folds, ...compatibilityFolds]) {
            const reached = reach(reading, fold)
            if (reached.isPublic) continue
            const context = `${shown(raw)} read as ${shown(reading)} reaches ${reached.pattern}`
            // Anything protected upstream was protected here, by the same requirement when it has one.
            expect(enforced.isPublic, context).toBe(false)
            if (reached.requires) expect(enforced.pattern, context).toBe(reached.pattern)
          }
        }
      }),
      { seed: SEED, numRuns: 3_000 }
    )
    expect(tally.Public).toBeGreaterThan(50)
    expect(tally.Protected).toBeGreaterThan(100)
    expect(tally.Rejected).toBeGreaterThan(200)
  })
})

import { Identity, Policy, Principal } from "@effect-auth/core"
import { RoutePolicy } from "@effect-auth/http"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

/** Parses a route table written as a JS value (the JSON a routes file holds); throws on a refusal. */
const table = (routes: unknown): RoutePolicy.Table => Effect.runSync(RoutePolicy.parse(JSON.stringify(routes)))

/** The message `parse` refuses a routes file with. */
const refusal = (json: string): string => {
  const exit = Effect.runSyncExit(Effect.flip(RoutePolicy.parse(json)))
  assert(Exit.isSuccess(exit), `expected ${json} to be refused`)
  return exit.value
}

/** The route (pattern) a protected path was matched to; fails the test for any other decision. */
const protectedBy = (routes: RoutePolicy.Table, path: string): string | undefined => {
  const decision = RoutePolicy.decide(routes, path)
  assert(decision._tag === "Protected", `expected ${path} to be Protected, got ${decision._tag}`)
  return decision.route
}

const rejectionOf = (routes: RoutePolicy.Table, path: string): string => {
  const decision = RoutePolicy.decide(routes, path)
  assert(decision._tag === "Rejected", `expected ${JSON.stringify(path)} to be Rejected, got ${decision._tag}`)
  return decision.reason
}

/** A principal whose grants come from its claims (the default providers). */
const principal = (claims: Record<string, unknown>) =>
  Principal.make(Identity.make({ id: "user-1", kind: "user", provider: "test", claims }))

/** Whether the policy that `decide` picked for the path lets a principal with these claims through. */
const allows = (routes: RoutePolicy.Table, path: string, claims: Record<string, unknown>) =>
  Effect.gen(function* () {
    const decision = RoutePolicy.decide(routes, path)
    assert(decision._tag === "Protected", `expected ${path} to be Protected, got ${decision._tag}`)
    const exit = yield* Effect.exit(Policy.enforce(decision.policy, yield* principal(claims)))
    return Exit.isSuccess(exit)
  })

// The contract's own example (examples/gateway README, DESIGN.md).
const contractJson = `[{"path": "/admin/*", "require": {"groups": ["admin"]}}, {"path": "/docs/*", "public": true}]`

describe("RoutePolicy.parse", () => {
  it.effect("accepts the contract's example table", () =>
    Effect.gen(function* () {
      const routes = yield* RoutePolicy.parse(contractJson)
      expect(protectedBy(routes, "/admin/users")).toBe("/admin/*")
      expect(RoutePolicy.decide(routes, "/docs/intro")._tag).toBe("Public")
      expect(yield* allows(routes, "/admin/users", { groups: ["admin"] })).toBe(true)
      expect(yield* allows(routes, "/admin/users", { groups: ["staff"] })).toBe(false)
    })
  )

  it.effect("accepts groups, roles, permissions and all: true, and enforces each of them", () =>
    Effect.gen(function* () {
      const routes = yield* RoutePolicy.parse(
        JSON.stringify([
          { path: "/roles/*", require: { roles: ["editor", "owner"] } },
          { path: "/perms/*", require: { permissions: ["reports:read"] } },
          { path: "/both/*", require: { groups: ["analyst", "auditor"], all: true } },
          { path: "/mixed/*", require: { groups: ["staff"], roles: ["editor"] } },
          { path: "/strict/*", require: { groups: ["staff"], roles: ["editor", "owner"], all: true } }
        ])
      )
      expect(yield* allows(routes, "/roles/x", { roles: ["owner"] })).toBe(true)
      expect(yield* allows(routes, "/roles/x", { roles: ["viewer"], groups: ["editor"] })).toBe(false)

      expect(yield* allows(routes, "/perms/x", { permissions: ["reports:read"] })).toBe(true)
      expect(yield* allows(routes, "/perms/x", { permissions: ["reports:write"] })).toBe(false)

      // all: true needs every listed group, not one of them.
      expect(yield* allows(routes, "/both/x", { groups: ["analyst", "auditor", "staff"] })).toBe(true)
      expect(yield* allows(routes, "/both/x", { groups: ["analyst"] })).toBe(false)

      // Every list present must be satisfied.
      expect(yield* allows(routes, "/mixed/x", { groups: ["staff"], roles: ["editor"] })).toBe(true)
      expect(yield* allows(routes, "/mixed/x", { groups: ["staff"] })).toBe(false)
      expect(yield* allows(routes, "/mixed/x", { roles: ["editor"] })).toBe(false)

      // all: true applies to every list.
      expect(yield* allows(routes, "/strict/x", { groups: ["staff"], roles: ["editor", "owner"] })).toBe(true)
      expect(yield* allows(routes, "/strict/x", { groups: ["staff"], roles: ["editor"] })).toBe(false)
    })
  )

  it.effect("a route without public or require needs any authenticated caller", () =>
    Effect.gen(function* () {
      const routes = table([{ path: "/app/*" }])
      expect(protectedBy(routes, "/app/x")).toBe("/app/*")
      expect(yield* allows(routes, "/app/x", {})).toBe(true)
    })
  )

  it("refuses typos and empty requirements instead of opening the route to any caller", () => {
    expect(refusal(JSON.stringify([{ path: "/billing/*", require: { group: ["admin"] } }]))).toContain("group")
    expect(refusal(JSON.stringify([{ path: "/billing/*", requires: { groups: ["admin"] } }]))).toContain("requires")
    expect(refusal(JSON.stringify([{ path: "/billing/*", require: {} }]))).toContain(
      "lists groups, roles or permissions"
    )
    expect(refusal(JSON.stringify([{ path: "/billing/*", require: { groups: [], all: true } }]))).toContain("groups")
    expect(refusal(JSON.stringify([{ path: "/billing/*", require: { roles: [""] } }]))).toContain("roles")
  })

  it("accepts an empty table, under which nothing is public", () => {
    const routes = table([])
    expect(protectedBy(routes, "/")).toBeUndefined()
    expect(protectedBy(routes, "/docs/x")).toBeUndefined()
  })

  it("refuses text that is not JSON", () => {
    expect(refusal("[{path: '/admin/*'}]")).toContain("not valid JSON")
    expect(refusal("")).toContain("not valid JSON")
  })

  it("refuses a wildcard anywhere but at the end, after a slash", () => {
    expect(refusal(`[{"path": "/a/*/b"}]`)).toContain(`may only end in "/*"`)
    expect(refusal(`[{"path": "/a/*/b"}]`)).toContain(`"/a/*/b"`)
    expect(refusal(`[{"path": "/admin*"}]`)).toContain(`"/admin*"`)
    expect(refusal(`[{"path": "/**"}]`)).toContain(`"/**"`)
  })

  it("refuses a path without a leading slash", () => {
    expect(refusal(`[{"path": "admin/*"}]`)).toContain(`starts with "/"`)
    expect(refusal(`[{"path": ""}]`)).toContain(`starts with "/"`)
  })

  it("refuses a route that is public and requires something", () => {
    expect(refusal(`[{"path": "/x/*", "public": true, "require": {"groups": ["admin"]}}]`)).toContain(
      "cannot be public and require something"
    )
  })

  it("refuses values of the wrong shape, naming the field", () => {
    expect(refusal(`{"path": "/x"}`)).toContain("Expected ReadonlyArray")
    expect(refusal(`[{"path": "/x", "require": {"groups": "admin"}}]`)).toContain(`["groups"]`)
    expect(refusal(`[{"path": "/x", "public": "yes"}]`)).toContain(`["public"]`)
    expect(refusal(`[{"require": {"groups": ["admin"]}}]`)).toContain(`["path"]`)
  })
})

describe("RoutePolicy.decide", () => {
  describe("specificity", () => {
    const routes = [
      { path: "/api/*" },
      { path: "/api/admin/*", require: { groups: ["admin"] } },
      { path: "/api/admin/status", require: { groups: ["ops"] } },
      { path: "/reports/*", require: { groups: ["analyst"] } },
      { path: "/reports/summary", require: { groups: ["staff"] } }
    ]

    it.each([
      ["in file order", routes],
      ["in reverse order", [...routes].reverse()]
    ])("the most specific route wins, whatever the order of the file (%s)", (_order, written) => {
      const compiled = table(written)
      // Exact before prefix.
      expect(protectedBy(compiled, "/reports/summary")).toBe("/reports/summary")
      expect(protectedBy(compiled, "/reports/summary/2024")).toBe("/reports/*")
      expect(protectedBy(compiled, "/api/admin/status")).toBe("/api/admin/status")
      // Longer before shorter.
      expect(protectedBy(compiled, "/api/admin/users")).toBe("/api/admin/*")
      expect(protectedBy(compiled, "/api/users")).toBe("/api/*")
    })

    it.effect("the winning route's requirement is the one enforced", () =>
      Effect.gen(function* () {
        const compiled = table(routes)
        expect(yield* allows(compiled, "/api/admin/users", { groups: ["admin"] })).toBe(true)
        expect(yield* allows(compiled, "/api/admin/users", { groups: ["ops"] })).toBe(false)
        expect(yield* allows(compiled, "/api/admin/status", { groups: ["ops"] })).toBe(true)
        expect(yield* allows(compiled, "/api/admin/status", { groups: ["admin"] })).toBe(false)
        expect(yield* allows(compiled, "/api/users", {})).toBe(true)
      })
    )
  })

  it("an exact route outranks a prefix on the same base, whichever opens and whichever protects", () => {
    const exactProtected = table([
      { path: "/admin", require: { groups: ["admin"] } },
      { path: "/admin/*", public: true }
    ])
    expect(protectedBy(exactProtected, "/admin")).toBe("/admin")
    expect(RoutePolicy.decide(exactProtected, "/admin/x")._tag).toBe("Public")
    const exactPublic = table([
      { path: "/docs", public: true },
      { path: "/docs/*", require: { groups: ["staff"] } }
    ])
    expect(RoutePolicy.decide(exactPublic, "/docs")._tag).toBe("Public")
    expect(protectedBy(exactPublic, "/docs/x")).toBe("/docs/*")
  })

  it("/prefix/* matches the prefix itself, with or without the trailing slash, and everything below", () => {
    const routes = table([{ path: "/admin/*", require: { groups: ["admin"] } }])
    expect(protectedBy(routes, "/admin")).toBe("/admin/*")
    expect(protectedBy(routes, "/admin/")).toBe("/admin/*")
    expect(protectedBy(routes, "/admin/a/b/c")).toBe("/admin/*")
  })

  it("/prefix/* does not match a longer name that only starts like it", () => {
    const routes = table([{ path: "/admin/*", require: { groups: ["admin"] } }])
    expect(protectedBy(routes, "/administrator")).toBeUndefined()
    expect(protectedBy(routes, "/admin-panel/x")).toBeUndefined()
  })

  it("an exact route matches itself with or without a trailing slash, but not its sub-paths", () => {
    const routes = table([{ path: "/status", public: true }])
    expect(RoutePolicy.decide(routes, "/status")._tag).toBe("Public")
    expect(RoutePolicy.decide(routes, "/status/")._tag).toBe("Public")
    expect(protectedBy(routes, "/status/x")).toBeUndefined()
  })

  it("an exact protected route covers its trailing-slash form, which most servers serve the same", () => {
    const routes = table([
      { path: "/settings", require: { groups: ["admin"] } },
      { path: "/*", public: true }
    ])
    expect(protectedBy(routes, "/settings")).toBe("/settings")
    expect(protectedBy(routes, "/settings/")).toBe("/settings")
    expect(protectedBy(routes, "/Settings/")).toBe("/settings")
  })

  it.effect("a path no route names is Protected with route undefined, open to any authenticated caller", () =>
    Effect.gen(function* () {
      const routes = RoutePolicy.compile([])
      expect(RoutePolicy.decide(routes, "/anything")).toMatchObject({ _tag: "Protected", route: undefined })
      expect(yield* allows(routes, "/anything", {})).toBe(true)
    })
  )

  describe("percent-encoding", () => {
    const routes = table([
      { path: "/admin/*", require: { groups: ["admin"] } },
      { path: "/docs/*", public: true }
    ])

    it("is decoded once before matching: /%61dmin/x is /admin/x", () => {
      expect(protectedBy(routes, "/%61dmin/x")).toBe("/admin/*")
      expect(protectedBy(routes, "/adm%69n")).toBe("/admin/*")
      expect(RoutePolicy.decide(routes, "/%64ocs/intro")._tag).toBe("Public")
    })

    it("refuses double encoding, which a server that decodes twice would read as another path", () => {
      expect(rejectionOf(routes, "/%2561dmin/x")).toContain("'%'")
    })

    it("refuses an encoded '?' or '#', which would end the path for a server that decodes first", () => {
      expect(rejectionOf(routes, "/admin%3fx")).toContain("'?'")
      expect(rejectionOf(routes, "/docs/x%23y")).toContain("'#'")
    })
  })

  describe("case", () => {
    const routes = table([
      { path: "/admin/*", require: { groups: ["admin"] } },
      { path: "/admin/health", public: true },
      { path: "/docs/*", public: true },
      { path: "/Billing/*", require: { groups: ["finance"] } }
    ])

    it.effect("requirements match whatever the case: /ADMIN/x is protected by /admin/*", () =>
      Effect.gen(function* () {
        expect(protectedBy(routes, "/ADMIN/x")).toBe("/admin/*")
        expect(protectedBy(routes, "/Admin/Users")).toBe("/admin/*")
        expect(protectedBy(routes, "/%41DMIN/x")).toBe("/admin/*")
        expect(yield* allows(routes, "/ADMIN/x", { groups: ["staff"] })).toBe(false)
        expect(yield* allows(routes, "/ADMIN/x", { groups: ["admin"] })).toBe(true)
        // A route written in another case still catches every spelling.
        expect(protectedBy(routes, "/billing/x")).toBe("/Billing/*")
        expect(protectedBy(routes, "/BILLING")).toBe("/Billing/*")
      })
    )

    it("requirements also catch letters a server that upper-cases folds to ASCII (ı); NFKC-folded ones are refused", () => {
      expect(protectedBy(routes, "/adm\u0131n/x")).toBe("/admin/*")
      // ſ is s under NFKC (as fullwidth ａ is a): a path that normalization changes is refused outright.
      for (const path of ["/\u017fettings", "/\uff41\uff44\uff4d\uff49\uff4e", "/%EF%BD%81dmin/x"]) {
        expect(RoutePolicy.decide(routes, path)._tag, path).toBe("Rejected")
      }
    })

    it("public routes open a path only in the exact case written: /DOCS/x is not public", () => {
      expect(RoutePolicy.decide(routes, "/docs/x")._tag).toBe("Public")
      expect(protectedBy(routes, "/DOCS/x")).toBeUndefined()
      expect(protectedBy(routes, "/Docs/x")).toBeUndefined()
      // The case of what follows the prefix does not matter: the route's own part is what must match.
      expect(RoutePolicy.decide(routes, "/docs/README")._tag).toBe("Public")
    })

    it.effect("a public sub-route of a protected prefix, written in another case, falls back to the prefix", () =>
      Effect.gen(function* () {
        expect(RoutePolicy.decide(routes, "/admin/health")._tag).toBe("Public")
        expect(protectedBy(routes, "/ADMIN/health")).toBe("/admin/*")
        expect(protectedBy(routes, "/admin/HEALTH")).toBe("/admin/*")
        expect(protectedBy(routes, "/admin/%48ealth")).toBe("/admin/*")
        expect(yield* allows(routes, "/admin/Health", { groups: ["staff"] })).toBe(false)
        // An exact public route does not open what is below it.
        expect(protectedBy(routes, "/admin/health/details")).toBe("/admin/*")
      })
    )
  })

  describe("paths that could mean two things are Rejected", () => {
    const routes = table([
      { path: "/admin/*", require: { groups: ["admin"] } },
      { path: "/docs/*", public: true }
    ])

    it.each([
      ["a .. segment", "/docs/../admin/x", "dot segment"],
      ["a trailing .. segment", "/admin/x/..", "dot segment"],
      ["an encoded .. segment", "/docs/%2e%2e/admin/x", "dot segment"],
      ["a . segment", "/docs/./x", "dot segment"],
      ["an encoded . segment", "/docs/%2E/x", "dot segment"],
      ["a leading //", "//admin/x", "empty segment"],
      ["an inner //", "/docs//x", "empty segment"],
      ["an encoded slash (%2f)", "/docs/..%2fadmin", "encoded slash"],
      ["an encoded slash (%2F)", "/docs%2F..%2Fadmin", "encoded slash"],
      ["an encoded backslash (%5c)", "/docs/..%5cadmin", "encoded slash, backslash"],
      ["an encoded backslash (%5C)", "/docs/..%5Cadmin", "encoded slash, backslash"],
      ["a backslash", "/docs/..\\admin", "backslash"],
      ["an encoded NUL", "/admin%00.html", "NUL"],
      ["invalid percent-encoding", "/%zz", "invalid percent-encoding"],
      ["a ';' path parameter", "/admin;x/users", "';'"],
      ["an encoded ';'", "/admin%3bx/users", "';'"],
      ["a lone %", "/docs/100%", "invalid percent-encoding"],
      ["an incomplete UTF-8 sequence", "/docs/%e2%82", "invalid percent-encoding"],
      ["a raw control character", "/docs/a\tb", "control characters"],
      ["an encoded newline", "/docs/a%0ab", "control characters"],
      ["an encoded DEL", "/docs/a%7f", "control characters"],
      ["a trailing dot", "/admin.", "ends with a dot"],
      ["a segment ending in a dot", "/docs/x./y", "ends with a dot"],
      ["an encoded trailing dot", "/admin%2e", "ends with a dot"],
      ["a segment ending in a space", "/admin%20/x", "ends with a dot or a space"],
      ["no leading slash", "admin/x", "must start with /"],
      ["an empty path", "", "must start with /"],
      ["an absolute URL", "http://example.com/docs/x", "must start with /"],
      ["an asterisk", "*", "must start with /"]
    ])("%s: %j", (_name, path, reason) => {
      expect(rejectionOf(routes, path)).toContain(reason)
    })

    it("the root and a trailing slash are fine", () => {
      expect(protectedBy(routes, "/")).toBeUndefined()
      expect(RoutePolicy.decide(routes, "/docs/")._tag).toBe("Public")
      expect(RoutePolicy.decide(routes, "/docs/v1.2/intro")._tag).toBe("Public")
    })
  })

  describe("random paths (seeded)", () => {
    // mulberry32: a small deterministic PRNG, so a failure is reproducible from the seed.
    const prng = (seed: number) => () => {
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
    const alphabet = ["/", ".", "%", "2", "f", "F", "5", "c", "\\", "a", "d", "m", "i", "n", "A", "D", "M", "I", "N"]
    // Whole names and escapes as well (names twice as likely), so that paths often reach the routes below.
    const words = ["admin", "ADMIN", "nd", "in", "ad", "%61", "%41", "%2e", "%2f", "%5c", "%00", "%6e", ".."]
    const tokens = [...alphabet, "/", "/", ...words, ...words.slice(0, 5)]

    const publicRoutes = [
      { path: "/nd/*", public: true },
      { path: "/admin/ad", public: true },
      { path: "/in", public: true },
      { path: "/a/*", public: true },
      { path: "/D", public: true }
    ]
    const routes = table([
      { path: "/admin/*", require: { groups: ["admin"] } },
      { path: "/admin/ad/*", require: { groups: ["ops"] } },
      ...publicRoutes
    ])

    /** Whether the decoded path is exactly (case included) a path a public route opens. */
    const opensExactly = (path: string) =>
      publicRoutes.some((route) =>
        route.path.endsWith("/*")
          ? path.startsWith(route.path.slice(0, -1)) || path === route.path.slice(0, -2)
          : path === route.path || path === `${route.path}/`
      )

    it("5,000 random paths never throw, and any Public path matches a public route exactly in case", () => {
      const random = prng(20_240_611)
      const tally = { Public: 0, Protected: 0, Rejected: 0 }
      for (let n = 0; n < 5_000; n++) {
        const length = 1 + Math.floor(random() * 8)
        let path = random() < 0.95 ? "/" : ""
        for (let i = 0; i < length; i++) path += tokens[Math.floor(random() * tokens.length)]

        const decision = RoutePolicy.decide(routes, path)
        tally[decision._tag]++
        if (decision._tag === "Rejected") continue

        // Whatever is not refused decodes cleanly and has no structure a server could read differently.
        const decoded = decodeURIComponent(path)
        expect(decoded.startsWith("/"), path).toBe(true)
        expect(/\/\/|\\|%|(^|\/)\.\.?(\/|$)/.test(decoded), path).toBe(false)

        if (decision._tag === "Public") {
          expect(opensExactly(decoded), `${path} decided Public`).toBe(true)
        } else {
          const lower = decoded.toLowerCase()
          // Nothing under /admin escapes the admin (or the stricter ops) requirement.
          if (lower === "/admin" || lower.startsWith("/admin/")) {
            expect(["/admin/*", "/admin/ad/*"], path).toContain(decision.route)
          }
        }
      }
      // The property is only worth something if every kind of decision came up often.
      expect(tally.Public).toBeGreaterThan(100)
      expect(tally.Protected).toBeGreaterThan(100)
      expect(tally.Rejected).toBeGreaterThan(100)
    })
  })
})

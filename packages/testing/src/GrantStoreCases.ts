/**
 * Conformance cases for grant stores (`GrantStore` of `@effect-auth/core`): models to seed, the exact
 * effective grants every store must load for them, and permission checks to run with
 * `Permission.allows`. Pure data, so the memory store and every SQL dialect run the same cases unchanged.
 *
 * @since 0.1.0
 */

/**
 * A store's model, structurally the same as `GrantStore.Model` of `@effect-auth/core`.
 *
 * @since 0.1.0
 */
export interface Model {
  readonly principals?: Readonly<
    Record<
      string,
      {
        readonly groups?: ReadonlyArray<string>
        readonly roles?: ReadonlyArray<string>
        readonly permissions?: ReadonlyArray<string>
      }
    >
  >
  readonly groups?: Readonly<Record<string, { readonly roles?: ReadonlyArray<string> }>>
  readonly roles?: Readonly<
    Record<string, { readonly permissions?: ReadonlyArray<string>; readonly inherits?: ReadonlyArray<string> }>
  >
}

/**
 * What a store loads for one principal, structurally the same as `GrantStore.EffectiveGrants`.
 *
 * @since 0.1.0
 */
export interface EffectiveGrants {
  readonly groups: ReadonlyArray<string>
  readonly roles: ReadonlyArray<string>
  readonly permissions: ReadonlyArray<string>
}

/**
 * One conformance case. No array in a model holds a duplicate, so a store with unique keys can be seeded
 * with it as it is.
 *
 * @since 0.1.0
 */
export interface Case {
  readonly name: string
  readonly model: Model
  /** Role inheritance levels the store follows; the store's default (8) when absent. */
  readonly maxDepth?: number
  /** Principal id -> expected effective grants (exact arrays, in the order `GrantStore.resolve` sorts them). */
  readonly expect: Readonly<Record<string, EffectiveGrants>>
  /** Principal id -> `[required permission, allowed?]` pairs checked with `Permission.allows`. */
  readonly checks?: Readonly<Record<string, ReadonlyArray<readonly [string, boolean]>>>
}

const nothing: EffectiveGrants = { groups: [], roles: [], permissions: [] }

const readsNothing: ReadonlyArray<readonly [string, boolean]> = [["documents.read", false]]

/**
 * Every case a grant store must pass.
 *
 * @since 0.1.0
 */
export const cases: ReadonlyArray<Case> = [
  {
    name: "an unknown principal has no grants",
    model: {
      principals: { alice: { groups: ["staff"], roles: ["admin"], permissions: ["*"] } },
      groups: { staff: { roles: ["admin"] } },
      roles: { admin: { permissions: ["*"] } }
    },
    // Names of the object prototype must not read anything either (a computed key, so `__proto__` is a name).
    expect: { bob: nothing, "": nothing, constructor: nothing, ["__proto__"]: nothing, toString: nothing },
    checks: { bob: readsNothing, constructor: readsNothing }
  },
  {
    name: "direct groups, roles and permissions",
    model: {
      principals: {
        alice: { groups: ["staff", "admins"], roles: ["editor"], permissions: ["reports.read", "documents.write"] }
      }
    },
    expect: {
      alice: { groups: ["admins", "staff"], roles: ["editor"], permissions: ["documents.write", "reports.read"] }
    },
    checks: {
      alice: [
        ["reports.read", true],
        ["documents.write", true],
        ["documents.read", false],
        ["reports", false]
      ]
    }
  },
  {
    name: "roles and their permissions come through groups",
    model: {
      principals: { alice: { groups: ["staff"] }, bob: { groups: ["staff", "ops"] }, carol: {} },
      groups: { staff: { roles: ["editor"] }, ops: { roles: ["operator"] } },
      roles: { editor: { permissions: ["documents.read"] }, operator: { permissions: ["servers.restart"] } }
    },
    expect: {
      alice: { groups: ["staff"], roles: ["editor"], permissions: ["documents.read"] },
      bob: {
        groups: ["ops", "staff"],
        roles: ["editor", "operator"],
        permissions: ["documents.read", "servers.restart"]
      },
      carol: nothing
    },
    checks: { alice: [["servers.restart", false]], bob: [["servers.restart", true]] }
  },
  {
    name: "roles inherit roles along a chain, in one direction only",
    model: {
      principals: {
        alice: { roles: ["admin"] },
        bob: { roles: ["editor"] },
        carol: { roles: ["viewer"] },
        dave: { groups: ["leads"] }
      },
      groups: { leads: { roles: ["editor"] } },
      roles: {
        admin: { permissions: ["users.manage"], inherits: ["editor"] },
        editor: { permissions: ["documents.write"], inherits: ["viewer"] },
        viewer: { permissions: ["documents.read"] }
      }
    },
    expect: {
      alice: {
        groups: [],
        roles: ["admin", "editor", "viewer"],
        permissions: ["documents.read", "documents.write", "users.manage"]
      },
      bob: { groups: [], roles: ["editor", "viewer"], permissions: ["documents.read", "documents.write"] },
      carol: { groups: [], roles: ["viewer"], permissions: ["documents.read"] },
      dave: { groups: ["leads"], roles: ["editor", "viewer"], permissions: ["documents.read", "documents.write"] }
    },
    checks: { carol: [["documents.write", false]], dave: [["users.manage", false]] }
  },
  {
    name: "inheritance cycles end",
    model: {
      principals: { alice: { roles: ["b"] }, bob: { roles: ["self"] } },
      roles: {
        a: { permissions: ["p.a"], inherits: ["b"] },
        b: { permissions: ["p.b"], inherits: ["c"] },
        c: { permissions: ["p.c"], inherits: ["a"] },
        self: { permissions: ["p.self"], inherits: ["self"] }
      }
    },
    expect: {
      alice: { groups: [], roles: ["a", "b", "c"], permissions: ["p.a", "p.b", "p.c"] },
      bob: { groups: [], roles: ["self"], permissions: ["p.self"] }
    }
  },
  {
    name: "inheritance deeper than maxDepth is ignored, counted from each directly held role",
    maxDepth: 2,
    model: {
      principals: {
        alice: { roles: ["r0"] },
        bob: { roles: ["r2"] },
        carol: { groups: ["g"] },
        dave: { roles: ["r0", "r3"] }
      },
      groups: { g: { roles: ["r1"] } },
      roles: {
        r0: { permissions: ["level.0"], inherits: ["r1"] },
        r1: { permissions: ["level.1"], inherits: ["r2"] },
        r2: { permissions: ["level.2"], inherits: ["r3"] },
        r3: { permissions: ["level.3"], inherits: ["r4"] },
        r4: { permissions: ["level.4"] }
      }
    },
    expect: {
      alice: { groups: [], roles: ["r0", "r1", "r2"], permissions: ["level.0", "level.1", "level.2"] },
      bob: { groups: [], roles: ["r2", "r3", "r4"], permissions: ["level.2", "level.3", "level.4"] },
      carol: { groups: ["g"], roles: ["r1", "r2", "r3"], permissions: ["level.1", "level.2", "level.3"] },
      dave: {
        groups: [],
        roles: ["r0", "r1", "r2", "r3", "r4"],
        permissions: ["level.0", "level.1", "level.2", "level.3", "level.4"]
      }
    },
    checks: { alice: [["level.3", false]], dave: [["level.4", true]] }
  },
  {
    name: "the default depth bound follows 8 levels",
    model: {
      principals: { alice: { roles: ["c0"] } },
      roles: Object.fromEntries(
        Array.from({ length: 11 }, (_, level) => [
          `c${level}`,
          level < 10 ? { permissions: [`chain.${level}`], inherits: [`c${level + 1}`] } : { permissions: ["chain.10"] }
        ])
      )
    },
    expect: {
      alice: {
        groups: [],
        roles: ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"],
        permissions: ["chain.0", "chain.1", "chain.2", "chain.3", "chain.4", "chain.5", "chain.6", "chain.7", "chain.8"]
      }
    },
    checks: {
      alice: [
        ["chain.8", true],
        ["chain.9", false],
        ["chain.10", false]
      ]
    }
  },
  {
    name: "maxDepth 0 follows no inheritance",
    maxDepth: 0,
    model: {
      principals: { alice: { roles: ["admin"] } },
      roles: {
        admin: { permissions: ["users.manage"], inherits: ["viewer"] },
        viewer: { permissions: ["reports.read"] }
      }
    },
    expect: { alice: { groups: [], roles: ["admin"], permissions: ["users.manage"] } },
    checks: { alice: [["reports.read", false]] }
  },
  {
    name: "grants reached along several paths appear once",
    model: {
      principals: { alice: { groups: ["g1", "g2"], roles: ["editor"], permissions: ["documents.read"] } },
      groups: { g1: { roles: ["editor"] }, g2: { roles: ["editor", "viewer"] } },
      roles: {
        editor: { permissions: ["documents.read", "documents.write"], inherits: ["viewer"] },
        viewer: { permissions: ["documents.read"] }
      }
    },
    expect: {
      alice: { groups: ["g1", "g2"], roles: ["editor", "viewer"], permissions: ["documents.read", "documents.write"] }
    }
  },
  {
    name: "wildcard grants cover one or more further segments",
    model: {
      principals: {
        alice: { permissions: ["documents.*"] },
        bob: { roles: ["root"] },
        carol: { permissions: ["documents.read.*"] }
      },
      roles: { root: { permissions: ["*"] } }
    },
    expect: {
      alice: { groups: [], roles: [], permissions: ["documents.*"] },
      bob: { groups: [], roles: ["root"], permissions: ["*"] },
      carol: { groups: [], roles: [], permissions: ["documents.read.*"] }
    },
    checks: {
      alice: [
        ["documents.read", true],
        ["documents.read.own", true],
        ["documents.*", true],
        ["documents", false],
        ["documentsX.read", false],
        ["Documents.read", false],
        ["reports.read", false]
      ],
      bob: [
        ["anything", true],
        ["billing.refund.all", true]
      ],
      carol: [
        ["documents.read.own", true],
        ["documents.read", false],
        ["documents.write", false]
      ]
    }
  },
  {
    name: "a deny beats a grant, wherever each comes from",
    model: {
      principals: {
        alice: { roles: ["editor"], permissions: ["!documents.delete"] },
        bob: { roles: ["auditor"], permissions: ["billing.refund"] }
      },
      roles: {
        editor: { permissions: ["documents.delete", "documents.read"] },
        auditor: { permissions: ["!billing.refund", "billing.read"] }
      }
    },
    expect: {
      alice: { groups: [], roles: ["editor"], permissions: ["documents.read", "!documents.delete"] },
      bob: { groups: [], roles: ["auditor"], permissions: ["billing.read", "!billing.refund"] }
    },
    checks: {
      alice: [
        ["documents.delete", false],
        ["documents.read", true]
      ],
      bob: [
        ["billing.refund", false],
        ["billing.read", true]
      ]
    }
  },
  {
    name: "a wildcard deny refuses everything it matches",
    model: {
      principals: {
        carol: { roles: ["admin"] },
        dave: { permissions: ["documents.*", "documents.read", "!documents.*"] }
      },
      roles: { admin: { permissions: ["*", "!billing.*"] } }
    },
    expect: {
      carol: { groups: [], roles: ["admin"], permissions: ["*", "!billing.*"] },
      dave: { groups: [], roles: [], permissions: ["!documents.*"] }
    },
    checks: {
      carol: [
        ["documents.read", true],
        ["billing.refund", false],
        ["billing.refund.all", false],
        ["billing.*", false],
        // `billing.*` does not match `billing` itself, so `*` still grants it.
        ["billing", true]
      ],
      dave: [
        ["documents.read", false],
        ["documents.*", false],
        ["documents", false]
      ]
    }
  },
  {
    name: "names are case-sensitive",
    model: {
      principals: { alice: { groups: ["admins"], roles: ["admin"] }, Alice: { groups: ["Admins"], roles: ["Admin"] } },
      groups: { admins: { roles: ["auditor"] }, Admins: { roles: ["Auditor"] } },
      roles: {
        admin: { permissions: ["documents.read"] },
        Admin: { permissions: ["Documents.Read"] },
        auditor: { permissions: ["logs.read"] },
        Auditor: { permissions: ["Logs.Read"] }
      }
    },
    expect: {
      alice: { groups: ["admins"], roles: ["admin", "auditor"], permissions: ["documents.read", "logs.read"] },
      Alice: { groups: ["Admins"], roles: ["Admin", "Auditor"], permissions: ["Documents.Read", "Logs.Read"] },
      ALICE: nothing
    },
    checks: {
      alice: [
        ["documents.read", true],
        ["Documents.Read", false]
      ],
      Alice: [
        ["Documents.Read", true],
        ["documents.read", false]
      ]
    }
  },
  {
    name: "surrounding spaces are part of a name",
    model: {
      principals: { alice: { groups: ["staff"] }, "alice ": { groups: ["staff "], roles: ["admin "] } },
      groups: { staff: { roles: ["admin"] }, "staff ": { roles: ["viewer"] } },
      roles: {
        admin: { permissions: ["users.manage"] },
        "admin ": { permissions: ["spaced.manage"] },
        viewer: { permissions: ["reports.read"] }
      }
    },
    expect: {
      alice: { groups: ["staff"], roles: ["admin"], permissions: ["users.manage"] },
      "alice ": { groups: ["staff "], roles: ["admin ", "viewer"], permissions: ["reports.read", "spaced.manage"] },
      " alice": nothing
    },
    checks: { "alice ": [["users.manage", false]], alice: [["spaced.manage", false]] }
  },
  {
    name: "unicode names are kept as they are, without normalisation, sorted by UTF-16 code unit",
    model: {
      principals: {
        // "josé" precomposed (NFC) and decomposed (NFD) are different principals.
        "jos\u00e9": { groups: ["\u00e9quipe"], permissions: ["documents.lire"] },
        "jose\u0301": { permissions: ["reports.read"] },
        straße: { roles: ["\uff5a-role", "🚀-role"] }
      },
      groups: { "\u00e9quipe": { roles: ["rédacteur"] } },
      roles: {
        rédacteur: { permissions: ["文档.读取", "rockets.🚀"] },
        "\uff5a-role": { permissions: ["fullwidth.\uff5a"] },
        "🚀-role": { permissions: ["rockets.launch"] }
      }
    },
    expect: {
      "jos\u00e9": {
        groups: ["\u00e9quipe"],
        roles: ["rédacteur"],
        permissions: ["documents.lire", "rockets.🚀", "文档.读取"]
      },
      "jose\u0301": { groups: [], roles: [], permissions: ["reports.read"] },
      // "🚀" is a surrogate pair (D83D DE80): by code unit it sorts before U+FF5A, by code point after.
      straße: { groups: [], roles: ["🚀-role", "\uff5a-role"], permissions: ["fullwidth.\uff5a", "rockets.launch"] },
      strasse: nothing
    },
    checks: {
      "jos\u00e9": [
        ["文档.读取", true],
        ["rockets.🚀", true],
        ["documents.LIRE", false]
      ],
      "jose\u0301": [["documents.lire", false]]
    }
  },
  {
    name: "a required wildcard is refused when a deny lies inside it",
    model: {
      principals: { alice: { roles: ["editor"] }, bob: { roles: ["root"] } },
      roles: {
        editor: { permissions: ["documents.*", "!documents.delete"] },
        root: { permissions: ["*", "!admin.delete"] }
      }
    },
    expect: {
      alice: { groups: [], roles: ["editor"], permissions: ["documents.*", "!documents.delete"] },
      bob: { groups: [], roles: ["root"], permissions: ["*", "!admin.delete"] }
    },
    checks: {
      alice: [
        ["documents.*", false],
        ["documents.read", true],
        ["documents.delete", false]
      ],
      bob: [
        ["*", false],
        ["admin.*", false],
        ["documents.*", true],
        ["admin.read", true]
      ]
    }
  },
  {
    name: "stored entries that are not valid permissions grant nothing",
    model: {
      principals: {
        alice: {
          permissions: [
            "documents.read ",
            "doc*",
            "a.*.b",
            "documents..write",
            "documents.",
            "zero\u200bwidth.read",
            "reports.read"
          ]
        }
      }
    },
    expect: { alice: { groups: [], roles: [], permissions: ["reports.read"] } },
    checks: {
      alice: [
        ["documents.read", false],
        ["doc.read", false],
        ["a.x.b", false],
        ["zerowidth.read", false],
        ["reports.read", true]
      ]
    }
  },
  {
    name: "a malformed deny, wherever it comes from, leaves only the valid denies (fail closed)",
    model: {
      principals: {
        alice: { roles: ["editor"], permissions: ["!documents.delete "] },
        bob: { roles: ["auditor"], permissions: ["reports.read", "!billing.*"] },
        carol: { permissions: ["*", "!!x"] },
        dave: { permissions: ["documents.*", "!"] },
        erin: { permissions: ["documents.*", " !documents.delete", "!documents.\u200bdelete"] }
      },
      roles: {
        editor: { permissions: ["documents.*", "reports.read"] },
        auditor: { permissions: ["billing.read", "!doc*"] }
      }
    },
    expect: {
      alice: { groups: [], roles: ["editor"], permissions: [] },
      bob: { groups: [], roles: ["auditor"], permissions: ["!billing.*"] },
      carol: nothing,
      dave: nothing,
      erin: nothing
    },
    checks: {
      alice: [
        ["documents.read", false],
        ["documents.delete", false],
        ["reports.read", false]
      ],
      bob: [
        ["reports.read", false],
        ["billing.read", false]
      ],
      carol: [["anything", false]],
      erin: [["documents.read", false]]
    }
  }
]

import { Permission } from "@effect-auth/core"
import { describe, expect, it } from "@effect/vitest"

describe("Permission.isValid", () => {
  it("accepts names, final-segment wildcards and denies", () => {
    for (const valid of [
      "documents.read",
      "read",
      "reports:read",
      "*",
      "documents.*",
      "a.b.c.*",
      "!documents.delete",
      "!*",
      "!documents.*",
      "文档.读取",
      "rockets.🚀"
    ]) {
      expect(Permission.isValid(valid), valid).toBe(true)
    }
  })

  it("refuses empty, spaced, control characters, misplaced wildcards and double denies", () => {
    for (const invalid of [
      "",
      "!",
      "!!x",
      "documents read",
      " documents.read",
      "documents.read ",
      "a\tb",
      "a\nb",
      "a\u0000b",
      "a\u007fb",
      "doc*",
      "a.*.b",
      "*.read",
      "**",
      "documents.**",
      "!doc*",
      // Format characters are invisible: a zero-width space or a BOM would make a look-alike name.
      "documents\u200b.delete",
      "\ufeffdocuments.read",
      "documents.read\u200d",
      "!documents\u2060.delete",
      // Lone surrogates are not text (and a database would mangle them).
      "documents.\ud83d",
      "\ude80.read",
      // Empty segments.
      "documents..delete",
      "documents.",
      ".documents",
      ".",
      "..",
      "!documents.",
      "!.documents",
      ".*",
      "a..*"
    ]) {
      expect(Permission.isValid(invalid), JSON.stringify(invalid)).toBe(false)
    }
  })

  it("bounds the length to 255 characters (code points), deny marker included", () => {
    expect(Permission.isValid("a".repeat(255))).toBe(true)
    expect(Permission.isValid("a".repeat(256))).toBe(false)
    expect(Permission.isValid("!" + "a".repeat(254))).toBe(true)
    expect(Permission.isValid("!" + "a".repeat(255))).toBe(false)
    // 255 emoji are 510 UTF-16 units but 255 characters, as a VARCHAR(255) counts them.
    expect(Permission.isValid("🚀".repeat(255))).toBe(true)
    expect(Permission.isValid("🚀".repeat(256))).toBe(false)
  })
})

describe("Permission.matches", () => {
  it("is exact without a wildcard: case-sensitive, no prefixes", () => {
    expect(Permission.matches("documents.read", "documents.read")).toBe(true)
    expect(Permission.matches("documents.read", "Documents.read")).toBe(false)
    expect(Permission.matches("documents", "documents.read")).toBe(false)
    expect(Permission.matches("documents.read", "documents.read.own")).toBe(false)
  })

  it("a final * matches one or more further segments, not the prefix itself", () => {
    expect(Permission.matches("documents.*", "documents.read")).toBe(true)
    expect(Permission.matches("documents.*", "documents.read.own")).toBe(true)
    expect(Permission.matches("documents.*", "documents")).toBe(false)
    expect(Permission.matches("documents.*", "documents.")).toBe(false)
    expect(Permission.matches("documents.*", "documentsX.read")).toBe(false)
    expect(Permission.matches("*", "anything.at.all")).toBe(true)
    expect(Permission.matches("*", "")).toBe(false)
  })

  it("a malformed wildcard only matches itself", () => {
    expect(Permission.matches("doc*", "documents")).toBe(false)
    expect(Permission.matches("a.*.b", "a.x.b")).toBe(false)
    expect(Permission.matches("a.*.b", "a.*.b")).toBe(true)
  })
})

describe("Permission.allows", () => {
  it("allows what a grant equals or matches", () => {
    expect(Permission.allows(["documents.read"], "documents.read")).toBe(true)
    expect(Permission.allows(["documents.*"], "documents.read.own")).toBe(true)
    expect(Permission.allows(["*"], "billing.refund")).toBe(true)
    expect(Permission.allows(["documents.*"], "documents.*")).toBe(true)
    expect(Permission.allows(["documents.read"], "documents.*")).toBe(false)
    expect(Permission.allows([], "documents.read")).toBe(false)
  })

  it("a matching deny wins over any grant, in any order", () => {
    expect(Permission.allows(["documents.delete", "!documents.delete"], "documents.delete")).toBe(false)
    expect(Permission.allows(["!documents.delete", "documents.delete"], "documents.delete")).toBe(false)
    expect(Permission.allows(["*", "!documents.*"], "documents.read")).toBe(false)
    expect(Permission.allows(["*", "!documents.*"], "documents.*")).toBe(false)
    expect(Permission.allows(["*", "!documents.*"], "documents")).toBe(true)
    expect(Permission.allows(["*", "!*"], "anything")).toBe(false)
    expect(Permission.allows(["documents.*", "!documents.delete"], "documents.read")).toBe(true)
  })

  it("a required wildcard is refused when a deny lies inside it (fail closed)", () => {
    expect(Permission.allows(["documents.*", "!documents.delete"], "documents.*")).toBe(false)
    expect(Permission.allows(["*", "!admin.delete"], "*")).toBe(false)
    expect(Permission.allows(["*", "!admin.*"], "*")).toBe(false)
    expect(Permission.allows(["*", "!documents.read.own"], "documents.*")).toBe(false)
    expect(Permission.allows(["*", "!documents.read.*"], "documents.*")).toBe(false)
    expect(Permission.allows(["documents.*", "!documents.*"], "documents.*")).toBe(false)
    // Denies outside the wildcard leave it granted.
    expect(Permission.allows(["*", "!billing.refund"], "documents.*")).toBe(true)
    expect(Permission.allows(["*", "!documents"], "documents.*")).toBe(true)
    expect(Permission.allows(["documents.*", "!documentsX.delete"], "documents.*")).toBe(true)
    // A required exact permission is unaffected by denies of other permissions.
    expect(Permission.allows(["documents.*", "!documents.delete"], "documents.read")).toBe(true)
  })

  it("refuses everything when a held deny is malformed (fail closed)", () => {
    expect(Permission.allows(["documents.*", "!documents.delete "], "documents.delete")).toBe(false)
    expect(Permission.allows(["documents.*", "!documents.delete "], "documents.read")).toBe(false)
    expect(Permission.allows(["*", "!doc*"], "reports.read")).toBe(false)
    // A malformed grant only grants nothing itself.
    expect(Permission.allows(["documents.read ", "reports.read"], "reports.read")).toBe(true)
  })

  it("never allows a required permission that is not valid grammar", () => {
    expect(Permission.allows(["*"], "")).toBe(false)
    expect(Permission.allows(["*", "!documents.delete"], "!documents.delete")).toBe(false)
    expect(Permission.allows(["doc*"], "doc*")).toBe(false)
    expect(Permission.allows(["*"], "documents read")).toBe(false)
  })
})

describe("Permission.normalize", () => {
  it("dedupes, drops invalid entries and covered grants, sorts grants then denies", () => {
    expect(
      Permission.normalize([
        "reports.read",
        "!documents.*",
        "documents.read",
        "reports.read",
        "documents.*",
        "doc*",
        "",
        "billing.refund",
        "!billing.refund",
        "!billing.refund",
        "*"
      ])
    ).toStrictEqual(["*", "reports.read", "!billing.refund", "!documents.*"])
  })

  it("an invalid entry that may be a deny drops every grant, keeping the valid denies (fail closed)", () => {
    for (const malformed of ["!documents.delete ", "!doc*", "!", "!!x", " !documents.delete", "!documents..delete"]) {
      expect(
        Permission.normalize(["documents.*", "reports.read", "!billing.*", malformed]),
        JSON.stringify(malformed)
      ).toStrictEqual(["!billing.*"])
    }
  })

  it("keeps what normalising a list allows unchanged", () => {
    const lists = [
      ["*", "documents.read", "!documents.delete", "billing.*", "!billing.refund.*"],
      ["documents.*", "reports.read", "!documents.delete ", "doc*"],
      ["documents.*", "reports.read ", "documents.read\u200b"]
    ]
    for (const held of lists) {
      const normalized = Permission.normalize(held)
      for (const required of [
        "documents.read",
        "documents.delete",
        "documents.*",
        "billing.refund",
        "billing.refund.all",
        "x",
        "billing.*",
        "reports.read",
        "*"
      ]) {
        expect(Permission.allows(normalized, required), `${held.join()} ${required}`).toBe(
          Permission.allows(held, required)
        )
      }
    }
  })

  it("sorts by UTF-16 code unit", () => {
    expect(Permission.normalize(["\uff5a", "🚀", "b", "B"])).toStrictEqual(["B", "b", "🚀", "\uff5a"])
  })
})

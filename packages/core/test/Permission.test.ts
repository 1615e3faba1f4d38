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
      "!doc*"
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

  it("keeps what normalising a list allows unchanged", () => {
    const held = ["*", "documents.read", "!documents.delete", "billing.*", "!billing.refund.*"]
    const normalized = Permission.normalize(held)
    for (const required of [
      "documents.read",
      "documents.delete",
      "billing.refund",
      "billing.refund.all",
      "x",
      "billing.*"
    ]) {
      expect(Permission.allows(normalized, required), required).toBe(Permission.allows(held, required))
    }
  })

  it("sorts by UTF-16 code unit", () => {
    expect(Permission.normalize(["\uff5a", "🚀", "b", "B"])).toStrictEqual(["B", "b", "🚀", "\uff5a"])
  })
})

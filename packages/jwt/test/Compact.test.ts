import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import * as Either from "effect/Either"
import { decode, hasDuplicateMembers, looksLikeJwt } from "../src/internal/compact.js"

/**
 * The reference: a small recursive-descent reader of valid JSON that compares each object's member names
 * itself (after unescaping), independent of `JSON.parse`'s member counts that the module relies on.
 */
const referenceHasDuplicates = (text: string): boolean => {
  let at = 0
  let duplicate = false
  const space = () => {
    while (/[ \t\n\r]/.test(text.charAt(at))) at++
  }
  const string = (): string => {
    const start = at
    at++
    while (text.charAt(at) !== '"') at += text.charAt(at) === "\\" ? 2 : 1
    at++
    return JSON.parse(text.slice(start, at)) as string
  }
  const value = (): void => {
    space()
    const c = text.charAt(at)
    if (c === "{") {
      at++
      const names = new Set<string>()
      space()
      if (text.charAt(at) === "}") {
        at++
        return
      }
      for (;;) {
        space()
        const name = string()
        if (names.has(name)) duplicate = true
        names.add(name)
        space()
        at++ // :
        value()
        space()
        if (text.charAt(at++) === "}") return
      }
    }
    if (c === "[") {
      at++
      space()
      if (text.charAt(at) === "]") {
        at++
        return
      }
      for (;;) {
        value()
        space()
        if (text.charAt(at++) === "]") return
      }
    }
    if (c === '"') {
      string()
      return
    }
    while (at < text.length && !/[,}\]\s]/.test(text.charAt(at))) at++
  }
  value()
  return duplicate
}

/** Names that collide often, spelt plainly, with escapes, with quotes, colons and backslashes inside. */
const name = fc.constantFrom("a", "b", "sub", "s\u0075b", 'q"', "c:", "\\", "\\u0061", ":", " ", "\u00e9", "")
const scalar = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), name, fc.string())

/** JSON text whose objects may repeat member names, with arbitrary whitespace between tokens. */
const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string; object: string; array: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar.map((v) => JSON.stringify(v)),
    tie("object"),
    tie("array")
  ),
  object: fc
    .array(fc.tuple(name, tie("value"), fc.constantFrom("", " ", "\n\t ")), { maxLength: 5 })
    .map(
      (members) => `{${members.map(([key, v, ws]) => `${ws}${JSON.stringify(key)}${ws}:${ws}${v}${ws}`).join(",")}}`
    ),
  array: fc.array(tie("value"), { maxLength: 4 }).map((items) => `[${items.join(", ")}]`)
})).object

describe("compact: duplicate member names", () => {
  it("agrees with an independent reader on generated JSON (duplicates, escapes, nesting, whitespace)", () => {
    fc.assert(
      fc.property(jsonText, (text) => {
        const parsed: unknown = JSON.parse(text)
        expect(hasDuplicateMembers(text, parsed)).toBe(referenceHasDuplicates(text))
      }),
      { numRuns: 3000, seed: 7 }
    )
  })

  it("finds duplicates however they are spelt, and only them", () => {
    const cases: ReadonlyArray<readonly [string, boolean]> = [
      ['{"sub":"a","sub":"b"}', true],
      ['{"sub":"a","s\\u0075b":"b"}', true],
      ['{"a":1,"a" :2}', true],
      ['{"ctx":{"role":"user","role":"admin"}}', true],
      ['[{"a":1},{"a":1}]', false],
      ['{"a":{"a":{"a":1}}}', false],
      ['{"a":":","b":"\\":"}', false],
      ['{"a\\\\":1,"a":2}', false],
      ['{"__proto__":1,"__proto__":2}', true],
      ['{"__proto__":{"a":1},"b":2}', false]
    ]
    for (const [text, expected] of cases) expect(hasDuplicateMembers(text, JSON.parse(text)), text).toBe(expected)
  })

  it("counts own members only, also when Object.prototype has an enumerable property", () => {
    const texts = ['{"a":1}', '{"a":1,"a":2}', '{"a":{"b":1}}']
    Object.defineProperty(Object.prototype, "polluted", { value: 1, enumerable: true, configurable: true })
    let found: Array<boolean>
    try {
      found = texts.map((text) => hasDuplicateMembers(text, JSON.parse(text)))
    } finally {
      Reflect.deleteProperty(Object.prototype, "polluted")
    }
    expect(found).toEqual([false, true, false])
  })

  it("reads a deeply nested text without overflowing the stack", () => {
    const depth = 100_000
    const text = `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`
    const parsed: unknown = JSON.parse(text)
    expect(hasDuplicateMembers(text, parsed)).toBe(false)
  })
})

describe("compact: looksLikeJwt", () => {
  it("takes three non-empty base64url segments starting like a JSON object, and nothing else", () => {
    expect(looksLikeJwt("eyJh.eyJz.c2ln")).toBe(true)
    expect(looksLikeJwt("eyJh-_09.eyJz.c2ln")).toBe(true)
    // Another provider (or the unsupported-scheme refusal) may take what is not a JWT.
    const others = ["abc.def.ghi", "eyJh.eyJz", "eyJh.eyJz.c2ln.x", "eyJh..c2ln", "eyJh.eyJz.", "eyJ.", "eyJ"]
    const badCharacters = ["eyJh.ey+z.c2ln", "eyJh.eyJz.c2/n", "eyJh.eyJz.c2ln=", "eyJh~.eyJz.c2ln", "eyJh.eyJz.c2 n"]
    for (const token of [...others, ...badCharacters]) expect(looksLikeJwt(token), token).toBe(false)
  })
})

describe("compact: decode", () => {
  const segment = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url")
  const header = segment(JSON.stringify({ alg: "RS256", kid: "k" }))
  const token = (payload: Uint8Array | string, head = header) => `${head}.${segment(payload)}.c2ln`
  const claimsOf = (text: string) => {
    const decoded = decode(text, 8192)
    return Either.isRight(decoded) ? decoded.right.claims : decoded.left.reason
  }

  it("refuses a payload that is not UTF-8, and keeps a U+FFFD the issuer signed", () => {
    expect(claimsOf(token('{"sub":"\uFFFD"}'))).toEqual({ sub: "\uFFFD" })
    const invalid = [
      Uint8Array.of(...Buffer.from('{"sub":"'), 0xff, ...Buffer.from('"}')),
      // An overlong "/" and a lone surrogate: both decode to U+FFFD, neither is UTF-8.
      Uint8Array.of(...Buffer.from('{"sub":"'), 0xc0, 0xaf, ...Buffer.from('"}')),
      Uint8Array.of(...Buffer.from('{"sub":"'), 0xed, 0xa0, 0x80, ...Buffer.from('"}'))
    ]
    for (const bytes of invalid) expect(claimsOf(token(bytes))).toBe("malformed")
  })

  it("reads each token's own segments, whatever looksLikeJwt saw last", () => {
    const a = token('{"sub":"a"}')
    const b = token('{"sub":"bb"}')
    expect(looksLikeJwt(a)).toBe(true)
    expect(claimsOf(b)).toEqual({ sub: "bb" })
    expect(looksLikeJwt(a)).toBe(true)
    expect(claimsOf(a)).toEqual({ sub: "a" })
    expect(looksLikeJwt(b)).toBe(true)
    expect(claimsOf(`${b}.x`)).toBe("malformed")
  })

  it("decodes a header that shortens or extends the last one on its own", () => {
    expect(claimsOf(token('{"sub":"a"}'))).toEqual({ sub: "a" })
    // The same characters as the last header, one fewer or one more: neither is that header.
    expect(claimsOf(token('{"sub":"a"}', header.slice(0, -1)))).toBe("malformed")
    expect(claimsOf(token('{"sub":"a"}', `${header}A`))).toBe("malformed")
    expect(claimsOf(token('{"sub":"a"}'))).toEqual({ sub: "a" })
  })
})

import { PasswordHasher } from "@effect-auth/core"
import { describe, expect, it } from "@effect/vitest"
import * as Bcrypt from "bcryptjs"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"

const password = Redacted.make("correct horse battery staple")
const wrong = Redacted.make("correct horse battery stapler")

// Small parameters keep the suite fast; the hash records them, so any hasher verifies it.
const Fast = PasswordHasher.layer({ ln: 10 })

const phcShape = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/

/** Collects formatted log lines, to check what a warning says (and what it never says). */
const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make((options) => {
    lines.push(Logger.logfmtLogger.log(options))
  })
  return { lines, layer: Logger.add(logger) }
}

const b64 = (bytes: Buffer) => bytes.toString("base64").replace(/=+$/, "")

/** A well-formed scrypt PHC string with the given parameter segment and salt/key sizes. */
const fakeScrypt = (parameters: string, saltBytes = 16, keyBytes = 32) =>
  `$scrypt$${parameters}$${b64(Buffer.alloc(saltBytes, 1))}$${b64(Buffer.alloc(keyBytes, 2))}`

describe("PasswordHasher", () => {
  it.layer(Fast)((it) => {
    it.effect("verifies the password a hash was made from", () =>
      Effect.gen(function* () {
        const hasher = yield* PasswordHasher.PasswordHasher
        const hash = yield* hasher.hash(password)
        expect(yield* hasher.verify(password, hash)).toBe(true)
      })
    )

    it.effect("refuses a wrong password", () =>
      Effect.gen(function* () {
        const hasher = yield* PasswordHasher.PasswordHasher
        const hash = yield* hasher.hash(password)
        expect(yield* hasher.verify(wrong, hash)).toBe(false)
        expect(yield* hasher.verify(Redacted.make(""), hash)).toBe(false)
      })
    )

    it.effect("writes PHC strings with the configured parameters, a 16-byte salt and a 32-byte key", () =>
      Effect.gen(function* () {
        const hasher = yield* PasswordHasher.PasswordHasher
        const hash = yield* hasher.hash(password)
        const match = phcShape.exec(hash)
        expect(match).not.toBeNull()
        expect(match?.slice(1, 4)).toEqual(["10", "8", "1"])
        expect(Buffer.from(match?.[4] ?? "", "base64")).toHaveLength(16)
        expect(Buffer.from(match?.[5] ?? "", "base64")).toHaveLength(32)
        expect(`${match?.[4]}$${match?.[5]}`).not.toContain("=")
      })
    )

    it.effect("uses a fresh salt for every hash", () =>
      Effect.gen(function* () {
        const hasher = yield* PasswordHasher.PasswordHasher
        const [first, second] = yield* Effect.all([hasher.hash(password), hasher.hash(password)])
        expect(first).not.toEqual(second)
        expect(phcShape.exec(first)?.[4]).not.toEqual(phcShape.exec(second)?.[4])
      })
    )

    it.effect("verifies hashes made with other parameters", () =>
      Effect.gen(function* () {
        const other = yield* PasswordHasher.make({ ln: 11, r: 4, p: 2 })
        const hash = yield* other.hash(password)
        expect(hash).toMatch(/^\$scrypt\$ln=11,r=4,p=2\$/)
        const hasher = yield* PasswordHasher.PasswordHasher
        expect(yield* hasher.verify(password, hash)).toBe(true)
        expect(yield* hasher.verify(wrong, hash)).toBe(false)
      })
    )

    it.effect("refuses malformed and unknown hash formats without throwing", () =>
      Effect.gen(function* () {
        const hasher = yield* PasswordHasher.PasswordHasher
        const valid = yield* hasher.hash(password)
        const [, , , , salt, key] = phcShape.exec(valid) ?? []
        const malformed = [
          "",
          "not a hash",
          "correct horse battery staple",
          "$scrypt$",
          "$scrypt$ln=10,r=8,p=1$$",
          `$scrypt$ln=10,r=8,p=1$${salt}`,
          `$scrypt$ln=10,r=8,p=1$${salt}$${key}$extra`,
          `$scrypt$ln=10,r=8$${salt}$${key}`,
          `$scrypt$ln=x,r=8,p=1$${salt}$${key}`,
          `$scrypt$r=8,ln=10,p=1$${salt}$${key}`,
          `$scrypt$ln=10,r=8,p=1$${salt}==$${key}`,
          `$scrypt$ln=10,r=8,p=1$${salt}$${key}!`,
          `$scrypt$ln=10,r=8,p=1$${salt}$${key} `,
          `$scrypt$ln=0,r=8,p=1$${salt}$${key}`,
          `$scrypt$ln=10,r=0,p=1$${salt}$${key}`,
          `$argon2id$v=19$m=65536,t=3,p=4$${salt}$${key}`,
          "$2b$10$tooshort",
          "$2x$10$" + "a".repeat(53),
          "$" + "A".repeat(100_000)
        ]
        for (const hash of malformed) {
          expect(yield* hasher.verify(password, hash), hash.slice(0, 60)).toBe(false)
        }
      })
    )

    it.effect("refuses hashes whose parameters are out of bounds before doing the work", () =>
      Effect.gen(function* () {
        const hasher = yield* PasswordHasher.PasswordHasher
        const oversized = [
          fakeScrypt("ln=21,r=8,p=1"),
          fakeScrypt("ln=99,r=8,p=1"),
          fakeScrypt("ln=10,r=33,p=1"),
          fakeScrypt("ln=10,r=8,p=17"),
          // 128 · 2^20 · 32 bytes = 4 GiB of memory for one login
          fakeScrypt("ln=20,r=32,p=1"),
          fakeScrypt("ln=10,r=8,p=1", 4096),
          fakeScrypt("ln=10,r=8,p=1", 4),
          fakeScrypt("ln=10,r=8,p=1", 16, 4096),
          fakeScrypt("ln=10,r=8,p=1", 16, 8)
        ]
        const started = performance.now()
        for (const hash of oversized) {
          expect(yield* hasher.verify(password, hash), hash.slice(0, 30)).toBe(false)
        }
        // Each refusal costs one ln=10 dummy verification (a few ms), never an ln=20+ derivation.
        expect(performance.now() - started).toBeLessThan(5_000)
      })
    )

    it.effect("logs a refused hash as a warning that never contains the hash", () =>
      Effect.gen(function* () {
        const hasher = yield* PasswordHasher.PasswordHasher
        const hash = fakeScrypt("ln=30,r=8,p=1")
        const logs = captureLogs()
        const result = yield* hasher.verify(password, hash).pipe(Effect.provide(logs.layer))
        expect(result).toBe(false)
        expect(logs.lines).toHaveLength(1)
        expect(logs.lines[0]).toContain("level=WARN")
        expect(logs.lines[0]).toContain("parameters-out-of-bounds")
        expect(logs.lines[0]).not.toContain("$scrypt")
        expect(logs.lines[0]).not.toContain(hash.split("$")[3])
        expect(logs.lines[0]).not.toContain(Redacted.value(password))
      })
    )

    it.effect("verifies bcrypt hashes ($2a$, $2b$, $2y$)", () =>
      Effect.gen(function* () {
        const hasher = yield* PasswordHasher.PasswordHasher
        const hash = yield* Effect.promise(() => Bcrypt.hash(Redacted.value(password), 4))
        expect(hash).toMatch(/^\$2b\$04\$/)
        for (const variant of ["$2a$", "$2b$", "$2y$"]) {
          const stored = variant + hash.slice(4)
          expect(yield* hasher.verify(password, stored), variant).toBe(true)
          expect(yield* hasher.verify(wrong, stored), variant).toBe(false)
        }
      })
    )

    it.effect("refuses bcrypt hashes with an unreasonable cost", () =>
      Effect.gen(function* () {
        const hasher = yield* PasswordHasher.PasswordHasher
        const hash = yield* Effect.promise(() => Bcrypt.hash(Redacted.value(password), 4))
        // At cost 31 bcryptjs would run for days; the bound refuses it at once.
        expect(yield* hasher.verify(password, hash.replace("$04$", "$31$"))).toBe(false)
        expect(yield* hasher.verify(password, hash.replace("$04$", "$03$"))).toBe(false)
      })
    )

    it.effect("dummyVerify completes without failing", () =>
      Effect.gen(function* () {
        const hasher = yield* PasswordHasher.PasswordHasher
        yield* hasher.dummyVerify(password)
        yield* hasher.dummyVerify(Redacted.make(""))
      })
    )

    it.effect("tells which hashes need rehashing", () =>
      Effect.gen(function* () {
        const hasher = yield* PasswordHasher.PasswordHasher
        const hash = yield* hasher.hash(password)
        const bcrypt = yield* Effect.promise(() => Bcrypt.hash("x", 4))
        expect(hasher.needsRehash(hash)).toBe(false)
        expect(hasher.needsRehash(bcrypt)).toBe(true)
        expect(hasher.needsRehash("garbage")).toBe(true)
        expect(PasswordHasher.needsRehash(hash)).toBe(true)
        expect(PasswordHasher.needsRehash(hash, { ln: 10 })).toBe(false)
        expect(PasswordHasher.needsRehash(hash, { ln: 10, r: 16 })).toBe(true)
        expect(PasswordHasher.isSupported(hash)).toBe(true)
        expect(PasswordHasher.isSupported(bcrypt)).toBe(true)
        expect(PasswordHasher.isSupported("garbage")).toBe(false)
      })
    )
  })

  it.effect("refuses to build with parameters out of bounds", () =>
    Effect.gen(function* () {
      for (const options of [{ ln: 21 }, { ln: 0 }, { r: 33 }, { p: 17 }, { ln: 10.5 }, { ln: 20, r: 32 }]) {
        const error = yield* Effect.flip(PasswordHasher.make(options))
        expect(error._tag).toBe("ConfigError")
        expect(error._op).toBe("InvalidData")
      }
    })
  )

  it.effect("uses ln=15, r=8, p=1 by default", () =>
    Effect.gen(function* () {
      const hasher = yield* PasswordHasher.PasswordHasher
      const hash = yield* hasher.hash(password)
      expect(hash).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
      expect(yield* hasher.verify(password, hash)).toBe(true)
      expect(hasher.needsRehash(hash)).toBe(false)
      expect(PasswordHasher.needsRehash(hash)).toBe(false)
    }).pipe(Effect.provide(PasswordHasher.layer()))
  )

  it.live("does not block the event loop while hashing with the default parameters", () =>
    Effect.gen(function* () {
      const hasher = yield* PasswordHasher.PasswordHasher
      let ticks = 0
      const timer = setInterval(() => {
        ticks++
      }, 1)
      const started = performance.now()
      yield* hasher.hash(password)
      const elapsed = performance.now() - started
      clearInterval(timer)
      // A synchronous scrypt would hold the thread for the whole derivation and let no timer run.
      expect(ticks).toBeGreaterThanOrEqual(Math.min(3, Math.floor(elapsed / 10)))
      expect(ticks).toBeGreaterThan(0)
    }).pipe(Effect.provide(PasswordHasher.layer()))
  )
})

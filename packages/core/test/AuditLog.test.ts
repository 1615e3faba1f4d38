import { AuditLog } from "@effect-auth/core"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"

const fields = ["time", "key_id", "principal", "provider", "method", "path", "status", "latency_ms"]

const entry = (path: string, overrides?: Partial<AuditLog.Entry>): AuditLog.Entry => ({
  time: new Date("2024-02-06T14:30:22.123Z"),
  keyId: "production",
  principal: "production",
  provider: "api-key",
  method: "POST",
  path,
  status: 200,
  latencyMillis: 1.25,
  ...overrides
})

interface Captured {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

const captureLogs = () => {
  const logs: Array<Captured> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const parts = Array.isArray(message) ? message : [message]
    logs.push({
      level: logLevel.label,
      message: parts.map(String).join(" "),
      annotations: Object.fromEntries(annotations)
    })
  })
  return { logs, layer: Logger.replace(Logger.defaultLogger, logger) }
}

const tempDir = Effect.acquireRelease(
  Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "effect-auth-audit-"))),
  (directory) => Effect.promise(() => Fs.rm(directory, { recursive: true, force: true }))
)

/** Builds an audit log in its own scope, so that a test can close it (and so flush it) when it wants. */
const open = <E>(layer: Layer.Layer<AuditLog.AuditLog, E>) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer, scope)
    return { log: Context.get(context, AuditLog.AuditLog), close: Scope.close(scope, Exit.void) }
  })

const readLines = (file: string) =>
  Effect.promise(async () => {
    const text = await Fs.readFile(file, "utf8").catch(() => "")
    if (text === "") return []
    // Every line is complete: the file never ends in the middle of one.
    expect(text.endsWith("\n")).toBe(true)
    return text.slice(0, -1).split("\n")
  })

/** The complete lines of a file being written: a read can catch a write half done (Linux reads do not wait). */
const completeLines = (file: string) =>
  Effect.promise(async () => {
    const text = await Fs.readFile(file, "utf8").catch(() => "")
    return text.split("\n").slice(0, -1)
  })

const waitForLines = (file: string, count: number) =>
  Effect.gen(function* () {
    for (let attempt = 0; attempt < 500; attempt++) {
      const lines = yield* completeLines(file)
      if (lines.length >= count) return lines
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.dieMessage(`${file} did not reach ${count} lines`)
  })

const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = performance.now()
    const result = yield* effect
    return { result, millis: performance.now() - start }
  })

/** A sink that holds every write until `release` is completed, and keeps what it was given. */
const blockedSink = Effect.gen(function* () {
  const release = yield* Deferred.make<void>()
  const written: Array<string> = []
  const sink: AuditLog.Sink = {
    name: "a blocked sink",
    write: (lines) =>
      Effect.zipRight(
        Deferred.await(release),
        Effect.sync(() => {
          written.push(...lines)
        })
      )
  }
  return { sink, release, written }
})

describe("AuditLog", () => {
  describe("format", () => {
    it("writes exactly the documented fields, without the query string", () => {
      const line = AuditLog.format(
        entry("/v1/chat/completions?api_key=sk-secret-0123456789#frag", { latencyMillis: 12.345 })
      )
      expect(JSON.parse(line)).toEqual({
        time: "2024-02-06T14:30:22.123Z",
        key_id: "production",
        principal: "production",
        provider: "api-key",
        method: "POST",
        path: "/v1/chat/completions",
        status: 200,
        latency_ms: 12.3
      })
      expect(Object.keys(JSON.parse(line))).toEqual(fields)
    })

    it("writes null for what is unknown, and rounds latency to 0.1 ms", () => {
      const line = JSON.parse(
        AuditLog.format({
          time: new Date("2024-02-06T14:30:22.123Z"),
          method: "GET",
          path: "/health",
          status: 401,
          latencyMillis: 0.04999
        })
      )
      expect(line).toEqual({
        time: "2024-02-06T14:30:22.123Z",
        key_id: null,
        principal: null,
        provider: null,
        method: "GET",
        path: "/health",
        status: 401,
        latency_ms: 0
      })
      expect(JSON.parse(AuditLog.format(entry("/", { latencyMillis: 0.96 }))).latency_ms).toBe(1)
      expect(JSON.parse(AuditLog.format(entry("/", { latencyMillis: Number.NaN }))).latency_ms).toBe(null)
      expect(JSON.parse(AuditLog.format(entry("/", { time: new Date(Number.NaN) }))).time).toBe(null)
    })

    it("keeps a hostile path on one line and bounds its length", () => {
      const line = AuditLog.format(entry('/a\n{"forged":true}\r\u2028' + "x".repeat(10_000)))
      expect(line).not.toContain("\n")
      expect(line).not.toContain("\r")
      expect(line.length).toBeLessThan(2_500)
      expect(JSON.parse(line).path.startsWith('/a\n{"forged":true}')).toBe(true)
    })
  })

  describe("layerFile", () => {
    it.scopedLive("appends one JSON object per line, to a file only its owner can read", () =>
      Effect.gen(function* () {
        const file = Path.join(yield* tempDir, "access.log")
        const { close, log } = yield* open(AuditLog.layerFile(file))
        yield* log.record(entry("/v1/models"))
        yield* log.record(entry("/v1/chat/completions?stream=true", { status: 429, latencyMillis: 3.14159 }))
        yield* close
        const lines = yield* readLines(file)
        expect(lines.map((line) => JSON.parse(line))).toEqual([
          {
            time: "2024-02-06T14:30:22.123Z",
            key_id: "production",
            principal: "production",
            provider: "api-key",
            method: "POST",
            path: "/v1/models",
            status: 200,
            latency_ms: 1.3
          },
          {
            time: "2024-02-06T14:30:22.123Z",
            key_id: "production",
            principal: "production",
            provider: "api-key",
            method: "POST",
            path: "/v1/chat/completions",
            status: 429,
            latency_ms: 3.1
          }
        ])
        const stats = yield* Effect.promise(() => Fs.stat(file))
        expect(stats.mode & 0o777).toBe(0o600)
      })
    )

    it.scopedLive("appends to an existing file", () =>
      Effect.gen(function* () {
        const file = Path.join(yield* tempDir, "access.log")
        yield* Effect.promise(() => Fs.writeFile(file, '{"earlier":true}\n', { mode: 0o600 }))
        const { close, log } = yield* open(AuditLog.layerFile(file))
        yield* log.record(entry("/v1/models"))
        yield* close
        const lines = yield* readLines(file)
        expect(lines).toHaveLength(2)
        expect(lines[0]).toBe('{"earlier":true}')
        expect(JSON.parse(lines[1] ?? "").path).toBe("/v1/models")
      })
    )

    it.scopedLive("never writes the key a request presented", () =>
      Effect.gen(function* () {
        const file = Path.join(yield* tempDir, "access.log")
        const key = "sk-prod-abc123def456ghi789"
        // The request as a gateway sees it: the key in the header and, as some clients do, in the query.
        const request = new Request(`http://127.0.0.1/v1/chat/completions?api_key=${key}&model=x`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}` }
        })
        const url = new URL(request.url)
        const { close, log } = yield* open(AuditLog.layerFile(file))
        yield* log.record({
          time: new Date(),
          keyId: "production",
          principal: "production",
          provider: "api-key",
          method: request.method,
          path: url.pathname + url.search,
          status: 200,
          latencyMillis: 4.2
        })
        yield* close
        const text = yield* Effect.promise(() => Fs.readFile(file, "utf8"))
        expect(text).toContain('"key_id":"production"')
        expect(text).toContain('"path":"/v1/chat/completions"')
        expect(text).not.toContain(key)
        expect(text).not.toContain("abc123def456")
      })
    )

    it.scopedLive("writes exactly 10 000 complete lines for 10 000 records from 50 fibers", () =>
      Effect.gen(function* () {
        const file = Path.join(yield* tempDir, "access.log")
        const { close, log } = yield* open(AuditLog.layerFile(file, { batchSize: 250 }))
        yield* Effect.forEach(
          Array.from({ length: 50 }, (_, fiber) => fiber),
          (fiber) =>
            Effect.forEach(
              Array.from({ length: 200 }, (_, index) => index),
              (index) => Effect.zipRight(log.record(entry(`/f/${fiber}/${index}`)), Effect.yieldNow()),
              { discard: true }
            ),
          { concurrency: "unbounded", discard: true }
        )
        expect(yield* log.dropped).toBe(0)
        yield* close
        const lines = yield* readLines(file)
        expect(lines).toHaveLength(10_000)
        const paths = new Set(lines.map((line) => JSON.parse(line).path))
        expect(paths.size).toBe(10_000)
        for (let fiber = 0; fiber < 50; fiber++) {
          for (let index = 0; index < 200; index++) expect(paths.has(`/f/${fiber}/${index}`)).toBe(true)
        }
      })
    )

    it.scopedLive("starts a fresh file at the path after rotation by rename", () =>
      Effect.gen(function* () {
        const directory = yield* tempDir
        const file = Path.join(directory, "access.log")
        const rotated = Path.join(directory, "access.log.1")
        const { close, log } = yield* open(AuditLog.layerFile(file))
        for (let index = 0; index < 300; index++) yield* log.record(entry(`/before/${index}`))
        yield* waitForLines(file, 300)
        yield* Effect.promise(() => Fs.rename(file, rotated))
        for (let index = 0; index < 300; index++) yield* log.record(entry(`/after/${index}`))
        yield* close
        const before = yield* readLines(rotated)
        const after = yield* readLines(file)
        expect(before.map((line) => JSON.parse(line).path)).toEqual(
          Array.from({ length: 300 }, (_, index) => `/before/${index}`)
        )
        expect(after.map((line) => JSON.parse(line).path)).toEqual(
          Array.from({ length: 300 }, (_, index) => `/after/${index}`)
        )
        expect((yield* Effect.promise(() => Fs.stat(file))).mode & 0o777).toBe(0o600)
      })
    )

    it.scopedLive("loses and splits nothing when the file is rotated while entries stream in", () =>
      Effect.gen(function* () {
        const directory = yield* tempDir
        const file = Path.join(directory, "access.log")
        const { close, log } = yield* open(AuditLog.layerFile(file, { batchSize: 50 }))
        const writer = yield* Effect.fork(
          Effect.forEach(
            Array.from({ length: 5_000 }, (_, index) => index),
            (index) =>
              Effect.zipRight(
                log.record(entry(`/stream/${index}`)),
                index % 10 === 0 ? Effect.sleep("1 millis") : Effect.void
              ),
            { discard: true }
          )
        )
        yield* waitForLines(file, 500)
        yield* Effect.promise(() => Fs.rename(file, Path.join(directory, "access.log.1")))
        yield* waitForLines(file, 500)
        // logrotate without copytruncate may also just delete the old file.
        yield* Effect.promise(() => Fs.unlink(file))
        yield* writer.await
        yield* close
        expect(yield* log.dropped).toBe(0)
        const first = yield* readLines(Path.join(directory, "access.log.1"))
        const last = yield* readLines(file)
        expect(first.length).toBeGreaterThanOrEqual(500)
        expect(last.length).toBeGreaterThan(0)
        // The deleted file's lines are gone with it; every line that remains is whole and in order.
        for (const lines of [first, last]) {
          const indices = lines.map((line) => Number(JSON.parse(line).path.split("/")[2]))
          expect(indices).toEqual([...indices].sort((a, b) => a - b))
        }
        const firstIndices = first.map((line) => Number(JSON.parse(line).path.split("/")[2]))
        expect(firstIndices).toEqual(Array.from({ length: first.length }, (_, index) => index))
        expect(JSON.parse(last[last.length - 1] ?? "").path).toBe("/stream/4999")
      })
    )

    it.scopedLive("never fails or waits when the path cannot be written, and logs the error once", () =>
      Effect.gen(function* () {
        const directory = yield* tempDir
        const { layer, logs } = captureLogs()
        const { close, log } = yield* open(AuditLog.layerFile(directory)).pipe(Effect.provide(layer))
        const { millis } = yield* elapsed(
          Effect.forEach(
            Array.from({ length: 1_000 }, (_, index) => index),
            (index) => log.record(entry(`/unwritable/${index}?api_key=sk-never-logged-123456`)),
            { discard: true }
          )
        )
        expect(millis).toBeLessThan(200)
        yield* close
        const errors = logs.filter((log) => log.level === "ERROR")
        expect(errors.length).toBeGreaterThanOrEqual(1)
        // One report at start-up, then at most one per interval for the failing writes.
        expect(errors.length).toBeLessThanOrEqual(2)
        expect(errors.every((log) => log.message.includes("EISDIR"))).toBe(true)
        expect(errors.some((log) => log.message.includes("entries lost"))).toBe(true)
        for (const log of logs) {
          expect(log.message).not.toContain("sk-never-logged")
          expect(log.message).not.toContain("/unwritable/")
        }
      })
    )

    it.scopedLive("flushes queued entries when the layer is finalized", () =>
      Effect.gen(function* () {
        const file = Path.join(yield* tempDir, "access.log")
        const { close, log } = yield* open(AuditLog.layerFile(file))
        for (let index = 0; index < 5_000; index++) yield* log.record(entry(`/flush/${index}`))
        yield* close
        const lines = yield* readLines(file)
        expect(lines.map((line) => JSON.parse(line).path)).toEqual(
          Array.from({ length: 5_000 }, (_, index) => `/flush/${index}`)
        )
        // After closing, recording still succeeds and the entry is counted as dropped.
        yield* log.record(entry("/late"))
        expect(yield* log.dropped).toBe(1)
      })
    )
  })

  describe("queue", () => {
    it.scopedLive("drops and counts entries when full, without ever blocking the caller", () =>
      Effect.suspend(() => {
        const { layer, logs } = captureLogs()
        return Effect.gen(function* () {
          const { release, sink, written } = yield* blockedSink
          const { close, log } = yield* open(AuditLog.layer(sink, { capacity: 100, batchSize: 10 }))
          const { millis } = yield* elapsed(
            Effect.forEach(
              Array.from({ length: 20_000 }, (_, index) => index),
              (index) => log.record(entry(`/full/${index}`)),
              { discard: true }
            )
          )
          expect(millis).toBeLessThan(1_000)
          const dropped = yield* log.dropped
          expect(dropped).toBeGreaterThanOrEqual(20_000 - 100 - 10)
          expect(dropped).toBeLessThanOrEqual(20_000 - 100)
          const warnings = logs.filter((log) => log.level === "WARN")
          expect(warnings).toHaveLength(1)
          expect(warnings[0]?.message).toContain("queue full")
          yield* Deferred.succeed(release, undefined)
          yield* close
          expect(written.length + dropped).toBe(20_000)
          expect(new Set(written).size).toBe(written.length)
        }).pipe(Effect.provide(layer))
      })
    )

    it.scopedLive("gives up flushing after the timeout when the sink hangs", () =>
      Effect.gen(function* () {
        const { sink } = yield* blockedSink
        const { layer, logs } = captureLogs()
        const { close, log } = yield* open(AuditLog.layer(sink, { flushTimeout: "100 millis" })).pipe(
          Effect.provide(layer)
        )
        yield* log.record(entry("/hangs"))
        yield* log.record(entry("/queued"))
        const { millis } = yield* elapsed(close)
        expect(millis).toBeGreaterThanOrEqual(90)
        expect(millis).toBeLessThan(1_000)
        expect(logs.some((log) => log.level === "WARN" && log.message.includes("did not finish"))).toBe(true)
      })
    )
  })

  describe("layerLogger", () => {
    it.scopedLive("logs each entry as a JSON message annotated log=audit", () =>
      Effect.gen(function* () {
        const { layer, logs } = captureLogs()
        const { close, log } = yield* open(AuditLog.layerLogger()).pipe(Effect.provide(layer))
        yield* log.record(entry("/v1/models?token=secret-token-value"))
        yield* close
        const audit = logs.filter((log) => log.annotations["log"] === "audit")
        expect(audit).toHaveLength(1)
        expect(audit[0]?.level).toBe("INFO")
        expect(JSON.parse(audit[0]?.message ?? "")).toEqual(JSON.parse(AuditLog.format(entry("/v1/models"))))
        expect(logs.some((log) => log.message.includes("secret-token-value"))).toBe(false)
      })
    )
  })

  describe("layerNone", () => {
    it.effect("discards entries", () =>
      Effect.gen(function* () {
        const log = yield* AuditLog.AuditLog
        yield* log.record(entry("/anything"))
        expect(yield* log.dropped).toBe(0)
      }).pipe(Effect.provide(AuditLog.layerNone))
    )
  })

  describe("layerConfig", () => {
    const withEnv = (env: Record<string, string>) =>
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

    it.effect("reads AUTH_AUDIT_LOG: unset or empty is none, - is standard output, anything else a path", () =>
      Effect.gen(function* () {
        expect(yield* AuditLog.destination.pipe(withEnv({}))).toEqual({ _tag: "None" })
        expect(yield* AuditLog.destination.pipe(withEnv({ AUTH_AUDIT_LOG: " " }))).toEqual({ _tag: "None" })
        expect(yield* AuditLog.destination.pipe(withEnv({ AUTH_AUDIT_LOG: "-" }))).toEqual({ _tag: "Stdout" })
        expect(yield* AuditLog.destination.pipe(withEnv({ AUTH_AUDIT_LOG: "/var/log/a.log" }))).toEqual({
          _tag: "File",
          path: "/var/log/a.log"
        })
      })
    )

    it.scopedLive("writes to the configured file", () =>
      Effect.gen(function* () {
        const file = Path.join(yield* tempDir, "configured.log")
        const { close, log } = yield* open(AuditLog.layerConfig()).pipe(withEnv({ AUTH_AUDIT_LOG: file }))
        yield* log.record(entry("/configured"))
        yield* close
        const lines = yield* readLines(file)
        expect(lines.map((line) => JSON.parse(line).path)).toEqual(["/configured"])
      })
    )
  })
})

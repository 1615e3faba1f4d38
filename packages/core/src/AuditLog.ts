/**
 * The access audit log: one JSON line per request (time, key_id, principal, method, path, status, latency),
 * written to a file, standard output or the Effect logger. Recording never blocks or fails the request:
 * entries go into a bounded queue that a background fiber drains in batches; when the queue is full, entries
 * are dropped and counted. The file sink appends whole lines only and follows log rotation.
 *
 * Unlike the seed's `log_access`, which wrote to a fixed `/data/logs/api_access.log`, the destination is
 * configured (`AUTH_AUDIT_LOG`).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { errorCode, makeAppender } from "./internal/auditFile.js"

/**
 * One access, as the caller knows it when the response is sent.
 *
 * @since 0.1.0
 */
export interface Entry {
  /** When the request arrived. */
  readonly time: Date
  /** The API key's id (never the key itself), when the request used one. */
  readonly keyId?: string | undefined
  /** The authenticated principal's id, when known. */
  readonly principal?: string | undefined
  /** The provider that authenticated the principal (`api-key`, `jwt`, `basic`, …), when known. */
  readonly provider?: string | undefined
  readonly method: string
  /** The request target. Everything from the first `?` or `#` on is removed before writing. */
  readonly path: string
  readonly status: number
  /** Time from arrival to response, in milliseconds. */
  readonly latencyMillis: number
}

/**
 * One line of the audit log, before `JSON.stringify`. Every field is always present (`null` when unknown), so
 * every line has the same shape.
 *
 * @since 0.1.0
 */
export interface Line {
  /** ISO-8601, UTC, millisecond precision; `null` for an invalid date. */
  readonly time: string | null
  readonly key_id: string | null
  readonly principal: string | null
  readonly provider: string | null
  readonly method: string
  readonly path: string
  readonly status: number | null
  /** Rounded to 0.1 ms; `null` when not a finite number. */
  readonly latency_ms: number | null
}

/**
 * @since 0.1.0
 */
export interface AuditLog {
  /** Queues an entry for writing. Never fails and never waits for the sink: a full queue drops the entry. */
  readonly record: (entry: Entry) => Effect.Effect<void>
  /** How many entries were dropped so far (queue full, or recorded after the log was closed). */
  readonly dropped: Effect.Effect<number>
}

/**
 * @since 0.1.0
 */
export const AuditLog: Context.Tag<AuditLog, AuditLog> = Context.GenericTag<AuditLog>("@effect-auth/core/AuditLog")

/**
 * A sink could not write a batch. `detail` is written by the sink and names the destination and the system
 * error code, never the entries.
 *
 * @since 0.1.0
 */
export class SinkError extends Schema.TaggedError<SinkError>()("SinkError", {
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}

/**
 * Where batches of formatted lines (JSON, without the trailing newline) go. A sink is called by one fiber at a
 * time, so it needs no locking of its own.
 *
 * @since 0.1.0
 */
export interface Sink {
  /** How log messages about this sink name it, e.g. `file "/var/log/auth/access.log"`. */
  readonly name: string
  readonly write: (lines: ReadonlyArray<string>) => Effect.Effect<void, SinkError>
}

/**
 * Tuning of the queue between `record` and the sink.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Entries held while the sink is slow; more are dropped and counted. Default 10 000. */
  readonly capacity?: number | undefined
  /** Most lines handed to the sink at once. Default 1 000. */
  readonly batchSize?: number | undefined
  /** How long closing the log may spend writing what is still queued. Default 5 seconds. */
  readonly flushTimeout?: Duration.DurationInput | undefined
  /** Least time between two warnings about dropped entries, or two errors about failed writes. Default 1 minute. */
  readonly warningInterval?: Duration.DurationInput | undefined
}

// Bounds what one request can put into one line: a hostile client chooses the path and the method.
const maxFieldLength = 2048

const bounded = (value: string): string => (value.length > maxFieldLength ? value.slice(0, maxFieldLength) : value)

const optionalField = (value: string | undefined): string | null => (value === undefined ? null : bounded(value))

/**
 * The request target without its query string or fragment: queries often carry secrets (`?api_key=…`,
 * `?token=…`, signed URLs), and the audit log must never hold one.
 *
 * @since 0.1.0
 */
export const stripQuery = (path: string): string => {
  const end = path.search(/[?#]/)
  return end === -1 ? path : path.slice(0, end)
}

/**
 * The line an entry becomes (see {@link Line}).
 *
 * @since 0.1.0
 */
export const toLine = (entry: Entry): Line => {
  const millis = entry.time.getTime()
  return {
    time: Number.isFinite(millis) ? entry.time.toISOString() : null,
    key_id: optionalField(entry.keyId),
    principal: optionalField(entry.principal),
    provider: optionalField(entry.provider),
    method: bounded(entry.method),
    path: bounded(stripQuery(entry.path)),
    status: Number.isFinite(entry.status) ? entry.status : null,
    latency_ms: Number.isFinite(entry.latencyMillis) ? Math.round(entry.latencyMillis * 10) / 10 : null
  }
}

/**
 * An entry as one JSON line, without the trailing newline. `JSON.stringify` escapes control characters, so a
 * path can never start a forged line.
 *
 * @example
 * ```ts
 * import { AuditLog } from "@effect-auth/core"
 *
 * AuditLog.format({
 *   time: new Date("2024-02-06T14:30:22.123Z"),
 *   keyId: "production",
 *   method: "POST",
 *   path: "/v1/chat/completions?stream=true",
 *   status: 200,
 *   latencyMillis: 12.345
 * })
 * // {"time":"2024-02-06T14:30:22.123Z","key_id":"production","principal":null,"provider":null,
 * //  "method":"POST","path":"/v1/chat/completions","status":200,"latency_ms":12.3}
 * ```
 *
 * @since 0.1.0
 */
export const format = (entry: Entry): string => JSON.stringify(toLine(entry))

const positiveInteger = (value: number | undefined, fallback: number): number =>
  value !== undefined && Number.isInteger(value) && value > 0 ? value : fallback

/**
 * An audit log over any sink, with its draining fiber in the scope. Closing the scope stops taking entries,
 * writes what is queued (for at most `flushTimeout`) and reports how many entries were dropped in total.
 *
 * @since 0.1.0
 */
export const make = (sink: Sink, options?: Options): Effect.Effect<AuditLog, never, Scope.Scope> =>
  Effect.gen(function* () {
    const capacity = positiveInteger(options?.capacity, 10_000)
    const batchSize = positiveInteger(options?.batchSize, 1_000)
    const flushTimeout = Duration.decode(options?.flushTimeout ?? Duration.seconds(5))
    const interval = Duration.toMillis(Duration.decode(options?.warningInterval ?? Duration.minutes(1)))
    const queue = yield* Queue.dropping<string>(capacity)

    let closed = false
    let dropped = 0
    let droppedUnreported = 0
    let lastDropWarning = Number.NEGATIVE_INFINITY
    let failing = false
    let lostUnreported = 0
    let lastFailureReport = Number.NEGATIVE_INFINITY

    const countDrop = Effect.suspend(() => {
      dropped++
      droppedUnreported++
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (now - lastDropWarning < interval) return Effect.void
        lastDropWarning = now
        const count = droppedUnreported
        droppedUnreported = 0
        return Effect.logWarning(
          `audit log: queue full (${capacity} entries), dropped ${count} since the last warning; ${sink.name} is not keeping up`
        )
      })
    })

    const reportFailure = (cause: Cause.Cause<SinkError>, count: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        lostUnreported += count
        if (failing && now - lastFailureReport < interval) return Effect.void
        failing = true
        lastFailureReport = now
        const lost = lostUnreported
        lostUnreported = 0
        const failure = Cause.failureOption(cause)
        return Option.isSome(failure)
          ? Effect.logError(`audit log: ${failure.value.detail}; ${lost} entries lost`)
          : Effect.logError(`audit log: ${sink.name} failed unexpectedly; ${lost} entries lost`, cause)
      })

    const writeBatch = (lines: ReadonlyArray<string>) =>
      sink.write(lines).pipe(
        Effect.matchCauseEffect({
          onFailure: (cause) => reportFailure(cause, lines.length),
          onSuccess: () => {
            if (!failing) return Effect.void
            failing = false
            const lost = lostUnreported
            lostUnreported = 0
            return Effect.logInfo(`audit log: writing to ${sink.name} again; ${lost} more entries lost`)
          }
        }),
        Effect.uninterruptible
      )

    // A batch taken from the queue is always written: interruption can only happen while waiting for one.
    const drain = Effect.forever(
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(Queue.takeBetween(queue, 1, batchSize)), (chunk) =>
          writeBatch(Chunk.toReadonlyArray(chunk))
        )
      )
    )
    const fiber = yield* Effect.forkDaemon(drain)

    const flush = Effect.gen(function* () {
      yield* Fiber.interrupt(fiber)
      let rest = Chunk.toReadonlyArray(yield* Queue.takeAll(queue))
      while (rest.length > 0) {
        yield* writeBatch(rest.slice(0, batchSize))
        rest = rest.slice(batchSize)
      }
    })

    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        // Disconnected so that a sink stuck in a write cannot hold up shutdown beyond the timeout.
        return flush.pipe(
          Effect.disconnect,
          Effect.interruptible,
          Effect.timeoutTo({
            duration: flushTimeout,
            onSuccess: () => Effect.void,
            onTimeout: () =>
              Effect.logWarning(
                `audit log: ${sink.name} did not finish within ${Duration.format(flushTimeout)} on shutdown; queued entries may be lost`
              )
          }),
          Effect.flatten,
          Effect.zipRight(
            Effect.suspend(() =>
              dropped > 0 ? Effect.logWarning(`audit log: ${dropped} entries were dropped in total`) : Effect.void
            )
          )
        )
      })
    )

    return AuditLog.of({
      record: (entry) =>
        Effect.suspend(() => {
          if (closed) {
            dropped++
            return Effect.void
          }
          return Queue.unsafeOffer(queue, format(entry)) ? Effect.void : countDrop
        }),
      dropped: Effect.sync(() => dropped)
    })
  })

/**
 * An audit log over any sink (a database table, a message queue, …).
 *
 * @since 0.1.0
 */
export const layer = (sink: Sink, options?: Options): Layer.Layer<AuditLog> =>
  Layer.scoped(AuditLog, make(sink, options))

/**
 * A sink that appends to a file, created with mode `0600` if missing. Each batch is written as whole lines
 * (at most 64 KiB per write) through a descriptor opened with `O_APPEND`. Before each batch the path's inode is
 * compared with the open file's: after a rotation (rename or delete) the next batch goes to a fresh file at the
 * path. The parent directory must exist; a path that cannot be opened or written is reported in the log, never
 * to the caller.
 *
 * @since 0.1.0
 */
export const fileSink = (path: string): Effect.Effect<Sink, never, Scope.Scope> =>
  Effect.gen(function* () {
    const appender = makeAppender(path)
    yield* Effect.addFinalizer(() => Effect.promise(() => appender.close()))
    const name = `file ${JSON.stringify(path)}`
    // Open now, so that a bad path is reported at start-up rather than with the first request.
    yield* Effect.tryPromise(() => appender.append([])).pipe(
      Effect.catchAll((error) => Effect.logError(`audit log: cannot open ${name} (${errorCode(error.error)})`))
    )
    return {
      name,
      write: (lines) =>
        Effect.tryPromise({
          try: () => appender.append(lines),
          catch: (error) => new SinkError({ detail: `cannot write to ${name} (${errorCode(error)})` })
        }).pipe(
          Effect.flatMap(({ loosePermissions }) =>
            loosePermissions
              ? Effect.logWarning(`audit log: ${name} can be read or written by other users; consider chmod 600`)
              : Effect.void
          )
        )
    }
  })

/**
 * Appends JSON lines to a file (see {@link fileSink} for rotation and permissions).
 *
 * @example
 * ```ts
 * import { AuditLog } from "@effect-auth/core"
 *
 * const audit = AuditLog.layerFile("/var/log/effect-auth/access.log")
 * ```
 *
 * @since 0.1.0
 */
export const layerFile = (path: string, options?: Options): Layer.Layer<AuditLog> =>
  Layer.scoped(
    AuditLog,
    Effect.flatMap(fileSink(path), (sink) => make(sink, options))
  )

/**
 * A sink that writes JSON lines to standard output, one write per batch.
 *
 * @since 0.1.0
 */
export const stdoutSink: Sink = {
  name: "standard output",
  write: (lines) =>
    Effect.async<void, SinkError>((resume) => {
      process.stdout.write(lines.join("\n") + "\n", (error) => {
        resume(
          error === null || error === undefined
            ? Effect.void
            : Effect.fail(new SinkError({ detail: `cannot write to standard output (${errorCode(error)})` }))
        )
      })
    })
}

/**
 * Writes JSON lines to standard output (`AUTH_AUDIT_LOG=-`), for containers whose logs are collected there.
 *
 * @since 0.1.0
 */
export const layerStdout = (options?: Options): Layer.Layer<AuditLog> => layer(stdoutSink, options)

/**
 * A sink that logs each line at level Info through the Effect logger in place when the layer was built: the
 * message is the JSON line, annotated `log=audit` so a logger can route it.
 *
 * @since 0.1.0
 */
export const loggerSink: Sink = {
  name: "the logger",
  write: (lines) =>
    Effect.forEach(lines, (line) => Effect.logInfo(line), { discard: true }).pipe(Effect.annotateLogs("log", "audit"))
}

/**
 * Writes each entry through the Effect logger (see {@link loggerSink}).
 *
 * @since 0.1.0
 */
export const layerLogger = (options?: Options): Layer.Layer<AuditLog> => layer(loggerSink, options)

/**
 * No audit log: entries are discarded.
 *
 * @since 0.1.0
 */
export const layerNone: Layer.Layer<AuditLog> = Layer.succeed(
  AuditLog,
  AuditLog.of({ record: () => Effect.void, dropped: Effect.succeed(0) })
)

/**
 * Where `AUTH_AUDIT_LOG` sends the audit log.
 *
 * @since 0.1.0
 */
export type Destination =
  { readonly _tag: "None" } | { readonly _tag: "Stdout" } | { readonly _tag: "File"; readonly path: string }

/**
 * `AUTH_AUDIT_LOG`: a file path, `-` for standard output, unset or empty for no audit log.
 *
 * @since 0.1.0
 */
export const destination: Config.Config<Destination> = Config.map(
  Config.withDefault(Config.string("AUTH_AUDIT_LOG"), ""),
  (value): Destination => {
    const trimmed = value.trim()
    if (trimmed === "") return { _tag: "None" }
    if (trimmed === "-") return { _tag: "Stdout" }
    return { _tag: "File", path: trimmed }
  }
)

/**
 * The audit log chosen by `AUTH_AUDIT_LOG` (see {@link destination}).
 *
 * @example
 * ```ts
 * import { AuditLog } from "@effect-auth/core"
 *
 * // AUTH_AUDIT_LOG=/var/log/effect-auth/access.log, or AUTH_AUDIT_LOG=- for stdout
 * const audit = AuditLog.layerConfig()
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = (options?: Options): Layer.Layer<AuditLog, ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.map(destination, (target) => {
      switch (target._tag) {
        case "None":
          return layerNone
        case "Stdout":
          return layerStdout(options)
        case "File":
          return layerFile(target.path, options)
      }
    })
  )

import * as Effect from "effect/Effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import type { CliFailure } from "./failure.js"
import { errorCode, fileFailure } from "./failure.js"

/** The key file's text, or `undefined` when it does not exist. */
export const readIfExists = (path: string): Effect.Effect<string | undefined, CliFailure> =>
  Effect.tryPromise({
    try: () => Fs.readFile(path, "utf8"),
    catch: (error) => error
  }).pipe(
    Effect.catchAll((error) =>
      errorCode(error) === "ENOENT" ? Effect.succeed(undefined) : Effect.fail(fileFailure("read", path, error))
    )
  )

/** The key file's text; a missing file is an error. */
export const read = (path: string): Effect.Effect<string, CliFailure> =>
  Effect.tryPromise({ try: () => Fs.readFile(path, "utf8"), catch: (error) => fileFailure("read", path, error) })

/**
 * The lines of a text as `ApiKeyFile.parse` numbers them (a lone `\r` ends a line too), each with its
 * terminator, so that joining them gives the text back. The last one may be empty.
 */
export const splitLines = (text: string): Array<{ readonly content: string; readonly terminator: string }> => {
  const lines: Array<{ readonly content: string; readonly terminator: string }> = []
  let start = 0
  for (const match of text.matchAll(/\r\n|\r|\n/g)) {
    lines.push({ content: text.slice(start, match.index), terminator: match[0] })
    start = match.index + match[0].length
  }
  lines.push({ content: text.slice(start), terminator: "" })
  return lines
}

/** The key id of a line of the line form, as `ApiKeyFile.parse` reads it; `undefined` for comments and blanks. */
export const keyIdOfLine = (line: string): string | undefined => {
  const trimmed = line.trim()
  if (trimmed.length === 0 || trimmed.startsWith("#")) return undefined
  const colon = trimmed.indexOf(":")
  return colon < 0 ? undefined : trimmed.slice(0, colon).trim()
}

/** The value (key or hash) of a line of the line form. */
export const valueOfLine = (line: string): string | undefined => {
  const trimmed = line.trim()
  const colon = trimmed.indexOf(":")
  return colon < 0 ? undefined : trimmed.slice(colon + 1).trim()
}

/**
 * Appends one line. A new file is created with mode 0600 (it lists who may call the service); `wx` makes
 * the creation fail rather than append to a file another process created since it was read.
 */
export const appendLine = (path: string, existing: string | undefined, line: string): Effect.Effect<void, CliFailure> =>
  Effect.tryPromise({
    try: async () => {
      const separator = existing === undefined || existing === "" || /[\r\n]$/.test(existing) ? "" : "\n"
      const handle = await Fs.open(path, existing === undefined ? "wx" : "a", 0o600)
      try {
        await handle.appendFile(`${separator}${line}\n`, "utf8")
        await handle.sync()
      } finally {
        await handle.close()
      }
    },
    catch: (error) => fileFailure("write", path, error)
  })

/** The file's permission bits. */
export const modeOf = (path: string): Effect.Effect<number, CliFailure> =>
  Effect.tryPromise({ try: () => Fs.stat(path), catch: (error) => fileFailure("read", path, error) }).pipe(
    Effect.map((stats) => stats.mode & 0o777)
  )

/**
 * Replaces the file's content atomically: a temporary file in the same directory (so the rename cannot cross
 * file systems) with the old file's mode, synced, then renamed over it. A reader (the gateway's hot reload)
 * sees the old file or the new one, never a half-written one. A symbolic link is followed, and stays a link.
 */
export const replace = (path: string, text: string): Effect.Effect<void, CliFailure> =>
  Effect.tryPromise({
    try: async () => {
      const target = await Fs.realpath(path)
      const mode = (await Fs.stat(target)).mode & 0o777
      const temporary = Path.join(
        Path.dirname(target),
        `.${Path.basename(target)}.${Crypto.randomBytes(6).toString("hex")}.tmp`
      )
      // Created with 0600 first: the content must never be readable by others, even for a moment.
      const handle = await Fs.open(temporary, "wx", 0o600)
      try {
        try {
          await handle.writeFile(text, "utf8")
          await handle.chmod(mode)
          await handle.sync()
        } finally {
          await handle.close()
        }
        await Fs.rename(temporary, target)
      } catch (error) {
        await Fs.rm(temporary, { force: true })
        throw error
      }
    },
    catch: (error) => fileFailure("rewrite", path, error)
  })

import * as Effect from "effect/Effect"
import { CliFailure, fail } from "./failure.js"

/** More than any key file or token a person pipes in; a bound so a runaway pipe cannot exhaust memory. */
const maxBytes = 16 * 1024 * 1024

/** Reads all of stdin as UTF-8. */
export const readAll: Effect.Effect<string, CliFailure> = Effect.tryPromise({
  try: async () => {
    if (process.stdin.isTTY === true) process.stderr.write("Reading from stdin (end with Ctrl-D)...\n")
    const chunks: Array<Buffer> = []
    let size = 0
    for await (const chunk of process.stdin) {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk as Uint8Array)
      size += bytes.length
      if (size > maxBytes) throw new CliFailure({ message: "stdin is larger than 16 MiB", exitCode: 1 })
      chunks.push(bytes)
    }
    return Buffer.concat(chunks).toString("utf8")
  },
  catch: (error) => (error instanceof CliFailure ? error : fail("cannot read stdin"))
})

import * as Data from "effect/Data"

/**
 * Ends a command with an exit code, and a message for stderr unless the command already said everything.
 * Messages are written by the CLI itself: they never quote a key or a token.
 */
export class CliFailure extends Data.TaggedError("CliFailure")<{
  readonly message: string
  readonly exitCode: number
}> {}

/** Bad input, an unreadable file, an unreachable issuer: exit code 1. */
export const fail = (message: string): CliFailure => new CliFailure({ message, exitCode: 1 })

/** The error code of a node error (`ENOENT`), or a generic word; never the error's message, which may quote data. */
export const errorCode = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : "unknown error"

const describeCode = (code: string): string => {
  switch (code) {
    case "ENOENT":
      return "no such file"
    case "EACCES":
    case "EPERM":
      return "permission denied"
    case "EISDIR":
      return "is a directory"
    default:
      return code
  }
}

/** `cannot <verb> "<path>" (<reason>)`. */
export const fileFailure = (verb: string, path: string, error: unknown): CliFailure =>
  fail(`cannot ${verb} "${path}" (${describeCode(errorCode(error))})`)

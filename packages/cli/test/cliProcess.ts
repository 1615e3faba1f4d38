// Runs the built `effect-auth` as a user would: a child process with its own stdin, stdout and stderr.
import { execFileSync, spawn } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const root = Path.resolve(packageDir, "../..")
const bin = Path.join(packageDir, "dist", "bin.js")

export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Builds the CLI (and what it depends on). Incremental: quick when everything is built already. */
export const build = (): void => {
  execFileSync("npx", ["tsc", "-b", "packages/cli/tsconfig.build.json"], { cwd: root, stdio: "ignore" })
}

/**
 * Runs `effect-auth args…` in `cwd`. The caller's `AUTH_DATABASE_URL` and `AUTH_API_KEYS_FILE` are not
 * passed on unless `env` sets them, so a test never reaches a database it did not name.
 */
export const run = (
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly input?: string; readonly env?: Record<string, string> }
): Promise<Result> =>
  new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env }
    delete env.AUTH_DATABASE_URL
    delete env.AUTH_API_KEYS_FILE
    Object.assign(env, options.env)
    const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd, env, stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(options.input ?? "")
  })

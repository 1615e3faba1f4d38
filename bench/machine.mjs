// Facts about the machine and code a benchmark ran on, for the "Machine" lines of bench/RESULTS.md (computed on call).
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import { dirname, join } from "node:path"
import { URL, fileURLToPath } from "node:url"

const require = createRequire(import.meta.url)

/**
 * An installed dependency's version, read from its package.json; when the package does not export it, from the
 * nearest package.json of that name above its entry point. "not installed" when it cannot be resolved.
 */
export const dependencyVersion = (name) => {
  try {
    return require(`${name}/package.json`).version
  } catch {
    // The package's exports do not include package.json, or it is not installed: look above its entry point.
  }
  try {
    let dir = dirname(require.resolve(name))
    for (;;) {
      const file = join(dir, "package.json")
      if (existsSync(file)) {
        const json = JSON.parse(readFileSync(file, "utf8"))
        if (json.name === name) return json.version
      }
      const parent = dirname(dir)
      if (parent === dir) return "unknown"
      dir = parent
    }
  } catch {
    return "not installed"
  }
}

/** The version of one of this repository's packages, by folder name (`packageVersion("core")`). */
export const packageVersion = (pkg) =>
  JSON.parse(readFileSync(fileURLToPath(new URL(`../packages/${pkg}/package.json`, import.meta.url)), "utf8")).version

/** `git <args>` in the current directory, trimmed; undefined when git fails (no git, not a repository). */
export const git = (...args) => {
  try {
    return execFileSync("git", args, { encoding: "utf8" }).trim()
  } catch {
    return undefined
  }
}

/** The short hash of the checked-out commit, or "unknown". */
export const commit = () => git("rev-parse", "--short", "HEAD") ?? "unknown"

/** The CPU's model name, from /proc/cpuinfo where there is one, else as Node reports it. */
export const cpuModel = () => {
  let cpuinfo = ""
  try {
    cpuinfo = readFileSync("/proc/cpuinfo", "utf8")
  } catch {
    // No /proc (not Linux): Node's own report below.
  }
  return /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? Os.cpus()[0]?.model ?? "unknown"
}

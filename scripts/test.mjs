// Builds the packages (the gateway tests start the built process), runs every vitest project once,
// then prints the one summary line CI reads: "N passed, N failed[, N skipped]".
import { spawnSync } from "node:child_process"
import { mkdirSync, readFileSync, rmSync } from "node:fs"
import { availableParallelism } from "node:os"

const run = (command, args) => spawnSync(command, args, { stdio: "inherit", shell: false }).status ?? 1

if (run("npx", ["tsc", "-b", "tsconfig.build.json"]) !== 0) {
  console.log("0 passed, 1 failed")
  process.exit(1)
}

const resultsFile = ".test-results/vitest.json"
rmSync(".test-results", { recursive: true, force: true })
mkdirSync(".test-results", { recursive: true })
// One worker per core, at most 4. vitest keeps a core for itself by default (one worker on two cores), but most
// files wait on the databases and processes they start, and every test has its own schema, database or Redis
// keys. The cap keeps the database connections of the files in flight well under the servers' limits.
const workers = String(Math.min(availableParallelism(), 4))
const status = run("npx", [
  "vitest",
  "run",
  `--maxWorkers=${workers}`,
  `--minWorkers=${workers}`,
  "--reporter=default",
  "--reporter=json",
  `--outputFile.json=${resultsFile}`,
  ...process.argv.slice(2)
])

let passed = 0
let failed = 0
let skipped = 0
try {
  const results = JSON.parse(readFileSync(resultsFile, "utf8"))
  passed = results.numPassedTests
  // A file that failed without a failing test (an import error, a failing hook) counts as one failure.
  const brokenFiles = results.testResults.filter(
    (file) => file.status === "failed" && !file.assertionResults.some((test) => test.status === "failed")
  ).length
  failed = results.numFailedTests + brokenFiles
  skipped = results.numPendingTests + results.numTodoTests
} catch {
  failed += 1
}
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`)
process.exit(status !== 0 || failed > 0 || passed === 0 ? 1 : 0)

// Latency of one authorization lookup (a principal's groups, roles and permissions) through the SQL grant
// store on PostgreSQL, MariaDB and SQLite, beside the raw driver running the very statement the store
// issues, and the in-memory store as a floor, all in one run. Imports the BUILT packages (what users run):
// build first (`npm run build`). Writes its section of bench/RESULTS.md unless `--no-write` is given.
//
// Harness: every case runs lookups one at a time (sequential, awaited) and each lookup is timed on its own.
// After a warm-up pass, the cases of all dialects run round-robin for ROUNDS rounds of LOOKUPS lookups
// each, so that drift of the machine hits them all alike; p50, p99 and mean are taken over all rounds.
import { GrantStore, Identity, Permission, Principal } from "@effect-auth/core"
import { Migrations, SqlAdmin, SqlDatabase, SqlGrantStore } from "@effect-auth/sql"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import { setTimeout } from "node:timers"
import { URL } from "node:url"
import { commit, cpuModel, dependencyVersion, git, packageVersion } from "./machine.mjs"
import { writeSection } from "./results.mjs"

const require = createRequire(import.meta.url)
const Pg = require("pg")
const Mysql = require("mysql2")
const MysqlPromise = require("mysql2/promise")
const Sqlite = require("better-sqlite3")

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const LOOKUPS = Number(process.env.BENCH_LOOKUPS ?? 200)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 200)
const PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test"
const CACHE_TTL = "10 minutes" // longer than the run: the cached cases measure the hit path only
const write = !process.argv.includes("--no-write")
const started = Date.now()

// Defeats dead-code elimination: every lookup feeds the size of its answer into this.
let sink = 0

const check = (condition, what) => {
  if (!condition) throw new Error(`Benchmark fixture broken: ${what}`)
}

// --- The model -------------------------------------------------------------------------------------------------
//
// One principal in 20 groups; each group grants 2 roles (40 roles); 10 of them head an inheritance chain of
// 3 more roles (depth 3, 30 inherited roles): 70 effective roles. The group roles hold 4 permissions each
// (0–159), the inherited roles 2 each (140–199, overlapping the group roles' 140–159), and the principal holds
// 2 permissions directly that its roles also grant: 200 effective permissions, with duplicates across paths.
// 50 other principals share the groups, so the tables hold more than the rows asked for.

const PRINCIPAL = "bench-user"
const GROUPS = 20
const CHAINS = 10
const CHAIN_DEPTH = 3
const EXPECTED_PERMISSIONS = 200
const OTHER_PRINCIPALS = 50

const pad = (n, width) => String(n).padStart(width, "0")
const permission = (i) => `app.resource${pad(i, 3)}.read`
const groupName = (g) => `group-${pad(g, 2)}`
const roleName = (r) => `role-${pad(r, 2)}`
const inheritedName = (chain, depth) => `inherited-${pad(chain, 2)}-${depth}`
const range = (from, count) => Array.from({ length: count }, (_, i) => from + i)

const roles = {}
for (let r = 0; r < GROUPS * 2; r++) roles[roleName(r)] = { permissions: range(r * 4, 4).map(permission) }
for (let chain = 0; chain < CHAINS; chain++) {
  let heir = roleName(chain * 4)
  for (let depth = 1; depth <= CHAIN_DEPTH; depth++) {
    const name = inheritedName(chain, depth)
    const m = chain * CHAIN_DEPTH + depth - 1
    roles[heir].inherits = [name]
    roles[name] = { permissions: [permission(140 + 2 * m), permission(141 + 2 * m)] }
    heir = name
  }
}
const groups = Object.fromEntries(
  range(0, GROUPS).map((g) => [groupName(g), { roles: [roleName(2 * g), roleName(2 * g + 1)] }])
)
const principals = {
  [PRINCIPAL]: { groups: range(0, GROUPS).map(groupName), permissions: [permission(0), permission(199)] }
}
for (let i = 0; i < OTHER_PRINCIPALS; i++) {
  principals[`other-${pad(i, 2)}`] = { groups: [groupName(i % GROUPS), groupName((i + 7) % GROUPS)] }
}
const model = { principals, groups, roles }

const expected = GrantStore.resolve(model, PRINCIPAL)
check(expected.groups.length === GROUPS, `${expected.groups.length} groups, expected ${GROUPS}`)
check(
  expected.permissions.length === EXPECTED_PERMISSIONS,
  `${expected.permissions.length} effective permissions, expected ${EXPECTED_PERMISSIONS}`
)
const expectedJson = JSON.stringify(expected)
/** The size of a store's or a description's answer, or -1 when it is not the expected one. */
const permissionCount = (grants) => (grants.permissions.length === EXPECTED_PERMISSIONS ? EXPECTED_PERMISSIONS : -1)

/** Every edge of the model as an `SqlAdmin.grant` call. */
const grants = [
  ...Object.entries(principals).flatMap(([principal, p]) => [
    ...(p.groups ?? []).map((group) => [{ principal }, { group }]),
    ...(p.permissions ?? []).map((permission) => [{ principal }, { permission }])
  ]),
  ...Object.entries(groups).flatMap(([group, g]) => g.roles.map((role) => [{ group }, { role }])),
  ...Object.entries(roles).flatMap(([role, r]) => [
    ...r.permissions.map((permission) => [{ role }, { permission }]),
    ...(r.inherits ?? []).map((inherited) => [{ role }, { role: inherited }])
  ])
]

// Code-unit order, as the stores sort.
const sorted = (names) => Array.from(new Set(names)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

/** The grants the rows of the store's statement stand for, to check the raw driver got the same answer. */
const grantsOfRows = (rows) => ({
  groups: sorted(rows.filter((row) => row.kind === "group").map((row) => row.name)),
  roles: sorted(rows.filter((row) => row.kind === "role").map((row) => row.name)),
  permissions: Permission.normalize(rows.filter((row) => row.kind === "permission").map((row) => row.name))
})

// --- Statements seen by the drivers --------------------------------------------------------------------------------
//
// Each driver's statement method is wrapped only while counting, so the timed runs go through the drivers
// untouched. This is also where the raw baseline gets its SQL text and parameters: copied from what the store
// actually sent, not reconstructed.

let seen = []

const wrap = (prototype, name, record) => {
  let owner = prototype
  while (!Object.prototype.hasOwnProperty.call(owner, name)) owner = Object.getPrototypeOf(owner)
  const original = owner[name]
  owner[name] = function (...args) {
    record(this, args)
    return original.apply(this, args)
  }
  return () => {
    owner[name] = original
  }
}

const statementOf = (sql, values) =>
  typeof sql === "string"
    ? { text: sql, params: Array.isArray(values) ? values : [] }
    : { text: sql.sql ?? sql.text, params: sql.values ?? (Array.isArray(values) ? values : []) }

const sqliteStatement = (() => {
  const probe = new Sqlite(":memory:")
  const prototype = Object.getPrototypeOf(probe.prepare("SELECT 1"))
  probe.close()
  return prototype
})()

const watchStatements = () => {
  const restores = [
    wrap(Pg.Client.prototype, "query", (_, [sql, values]) => seen.push(statementOf(sql, values))),
    wrap(Mysql.PoolConnection.prototype, "query", (_, [sql, values]) => seen.push(statementOf(sql, values))),
    wrap(Mysql.PoolConnection.prototype, "execute", (_, [sql, values]) => seen.push(statementOf(sql, values))),
    ...["all", "get", "run", "iterate"].map((method) =>
      wrap(sqliteStatement, method, (statement, params) => seen.push({ text: statement.source, params }))
    )
  ]
  return () => restores.forEach((restore) => restore())
}

// --- Databases -----------------------------------------------------------------------------------------------------

const sqliteVersion = () => {
  const probe = new Sqlite(":memory:")
  const version = probe.prepare("SELECT sqlite_version() AS v").get().v
  probe.close()
  return version
}

const uniqueName = () => `bench_${Date.now().toString(36)}_${Crypto.randomBytes(4).toString("hex")}`
const withTimeout = (promise, ms) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())
  ])

/**
 * Each dialect: a fresh database, the store's URL for it, the raw driver's ways of running a statement, and
 * how to drop it all. `undefined` when the server does not answer.
 */
const dialects = [
  {
    name: "pg",
    label: "PostgreSQL",
    where: new URL(PG_URL).host,
    open: async () => {
      const admin = new Pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 })
      admin.on("error", () => {})
      try {
        await withTimeout(admin.connect(), 3000)
      } catch {
        await admin.end().catch(() => {})
        return undefined
      }
      const schema = uniqueName()
      await admin.query(`CREATE SCHEMA ${schema}`)
      const version = (await admin.query("SHOW server_version")).rows[0].server_version
      const separator = PG_URL.includes("?") ? "&" : "?"
      const url = `${PG_URL}${separator}options=${encodeURIComponent(`-c search_path=${schema}`)}`
      const pool = new Pg.Pool({ connectionString: url, max: 10 })
      return {
        url,
        version: `PostgreSQL ${version}`,
        raw: [
          {
            name: "pg Pool.query(text, params)",
            prepare:
              ({ text, params }) =>
              () =>
                pool.query(text, params).then((result) => result.rows)
          }
        ],
        close: async () => {
          await pool.end()
          await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
          await admin.end()
        }
      }
    }
  },
  {
    name: "mysql",
    label: "MariaDB",
    where: new URL(MYSQL_URL).host,
    open: async () => {
      let admin
      try {
        admin = await withTimeout(MysqlPromise.createConnection({ uri: MYSQL_URL, connectTimeout: 2000 }), 3000)
      } catch {
        return undefined
      }
      const database = uniqueName()
      await admin.query(`CREATE DATABASE ${database}`)
      const [[{ version }]] = await admin.query("SELECT VERSION() AS version")
      const url = new URL(MYSQL_URL)
      url.pathname = `/${database}`
      const pool = Mysql.createPool({ uri: url.href, connectionLimit: 10, maxIdle: 10 })
      const call = (method, text, params) =>
        new Promise((resolve, reject) =>
          pool[method]({ sql: text, values: params }, (error, rows) => (error ? reject(error) : resolve(rows)))
        )
      return {
        url: url.href,
        version: `${/mariadb/i.test(version) ? "MariaDB" : "MySQL"} ${version}`,
        raw: [
          {
            // The store's client sends its statements with `execute` (binary protocol, prepared once per
            // connection): the like-for-like baseline.
            name: "mysql2 pool.execute({ sql, values })",
            prepare:
              ({ text, params }) =>
              () =>
                call("execute", text, params)
          },
          {
            name: "mysql2 pool.query({ sql, values }) (text protocol)",
            extra: true,
            prepare:
              ({ text, params }) =>
              () =>
                call("query", text, params)
          }
        ],
        close: async () => {
          await new Promise((resolve) => pool.end(resolve))
          await admin.query(`DROP DATABASE IF EXISTS ${database}`)
          await admin.end()
        }
      }
    }
  },
  {
    name: "sqlite",
    label: "SQLite",
    where: "a temporary file",
    open: async () => {
      const directory = mkdtempSync(Path.join(Os.tmpdir(), "effect-auth-bench-"))
      const file = Path.join(directory, "auth.db")
      let db
      return {
        url: `sqlite:${file}`,
        version: `SQLite ${sqliteVersion()}`,
        raw: [
          {
            // Prepared once, as the store's client caches its prepared statements.
            name: "better-sqlite3 prepare(text) once, .all(...params)",
            prepare: ({ text, params }) => {
              db ??= new Sqlite(file)
              const statement = db.prepare(text)
              return () => statement.all(...params)
            }
          }
        ],
        close: async () => {
          db?.close()
          rmSync(directory, { recursive: true, force: true })
        }
      }
    }
  }
]

// --- Setup ---------------------------------------------------------------------------------------------------------

const quiet = Logger.minimumLogLevel(LogLevel.Warning)
const scope = Effect.runSync(Scope.make())
const build = (layer) => Effect.runPromise(Effect.provide(Layer.buildWithScope(layer, scope), quiet))
const identity = () => Identity.make({ id: PRINCIPAL, kind: "user", provider: "bench" })
/** One request: a principal from the grant sources (a fresh identity, as each request has), described. */
const describeWith = (sources) => () =>
  Effect.runPromise(Effect.flatMap(Principal.fromIdentity(identity(), sources), Principal.describe))

const memoryContext = await build(GrantStore.layerMemory(model))
const memoryStore = Context.get(memoryContext, GrantStore.GrantStore)
const memorySources = Effect.runSync(Effect.provide(Principal.grantSources, memoryContext))

const closers = []
const notes = []
const opened = []
/** @type {Array<{ dialect?: string, name: string, run: () => unknown, size: (value: unknown) => number, baseline?: boolean }>} */
const cases = [
  {
    name: "GrantStore.makeMemory: load",
    run: () => Effect.runPromise(memoryStore.load(PRINCIPAL)),
    size: permissionCount
  },
  {
    name: "GrantStore.layerMemory: request path (fromIdentity + describe)",
    run: describeWith(memorySources),
    size: permissionCount
  }
]

try {
  for (const dialect of dialects) {
    const db = await dialect.open()
    if (db === undefined) {
      const note = `${dialect.label} not reachable at ${dialect.where}: skipped.`
      notes.push(note)
      console.log(note)
      continue
    }
    closers.push(db.close)
    const seedStarted = Date.now()
    const sqlContext = await build(SqlDatabase.layer({ url: Redacted.make(db.url) }))
    const inDatabase = (effect) => Effect.runPromise(Effect.provide(effect, sqlContext))
    await inDatabase(Migrations.run())
    await inDatabase(
      Effect.forEach(grants, ([subject, grant]) => SqlAdmin.grant(subject, grant), {
        concurrency: dialect.name === "sqlite" ? 1 : 8,
        discard: true
      })
    )
    const seedSeconds = ((Date.now() - seedStarted) / 1000).toFixed(1)

    const sql = Context.get(sqlContext, SqlClient.SqlClient)
    const inContext = (layer) => build(Layer.provide(layer, Layer.succeedContext(sqlContext)))
    const uncachedContext = await inContext(SqlGrantStore.layer())
    const cachedContext = await inContext(SqlGrantStore.layer({ cache: { timeToLive: CACHE_TTL } }))
    const uncached = Context.get(uncachedContext, GrantStore.GrantStore)
    const cached = Context.get(cachedContext, GrantStore.GrantStore)
    const uncachedSources = Effect.runSync(Effect.provide(Principal.grantSources, uncachedContext))
    const cachedSources = Effect.runSync(Effect.provide(Principal.grantSources, cachedContext))

    const loaded = await Effect.runPromise(uncached.load(PRINCIPAL))
    check(JSON.stringify(loaded) === expectedJson, `${dialect.label} load differs from GrantStore.resolve`)

    // Statements per request, and the store's statement for the raw baseline.
    const stopWatching = watchStatements()
    let counts
    try {
      seen = []
      const described = await describeWith(uncachedSources)()
      const uncachedStatements = seen
      seen = []
      await describeWith(cachedSources)() // fills the cache
      const fillStatements = seen.length
      seen = []
      await describeWith(cachedSources)()
      counts = { uncached: uncachedStatements.length, fill: fillStatements, hit: seen.length }
      check(
        JSON.stringify([described.groups, described.roles, described.permissions]) ===
          JSON.stringify([expected.groups, expected.roles, expected.permissions]),
        `${dialect.label} describe differs from GrantStore.resolve`
      )
      check(uncachedStatements.length > 0, `${dialect.label}: no statement seen by the driver`)
      db.statement = uncachedStatements[0]
    } finally {
      stopWatching()
      seen = []
    }
    console.log(
      `${dialect.label}: statements per describe: ${counts.uncached} uncached, ${counts.hit} cached ` +
        `(${counts.fill} on the miss that fills the cache)`
    )

    const rawCases = db.raw.map((raw) => ({ ...raw, run: raw.prepare(db.statement) }))
    let rawRows
    for (const raw of rawCases) {
      const rows = await raw.run()
      check(
        JSON.stringify(grantsOfRows(rows)) === expectedJson,
        `${dialect.label} raw ${raw.name} answers other grants`
      )
      rawRows ??= rows.length
      check(rows.length === rawRows, `${dialect.label} raw drivers disagree on the row count`)
    }

    const viaClient = await Effect.runPromise(sql.unsafe(db.statement.text, db.statement.params))
    check(JSON.stringify(grantsOfRows(viaClient)) === expectedJson, `${dialect.label} sql.unsafe answers other grants`)

    opened.push({ ...dialect, version: db.version, counts, statement: db.statement, rawRows, seedSeconds })
    const d = dialect.name
    cases.push(
      ...rawCases.map((raw) => ({
        dialect: d,
        name: `1. raw driver: ${raw.name}`,
        baseline: raw.extra !== true,
        run: raw.run,
        size: (rows) => (rows.length === rawRows ? rawRows : -1)
      })),
      {
        // The same statement through the SQL client the store uses, without the store: splits the store's
        // overhead into what @effect/sql and Effect add and what the store itself adds.
        dialect: d,
        name: "2. @effect/sql client: sql.unsafe(text, params)",
        run: () => Effect.runPromise(sql.unsafe(db.statement.text, db.statement.params)),
        size: (rows) => (rows.length === rawRows ? rawRows : -1)
      },
      {
        dialect: d,
        name: "3. SqlGrantStore.load, uncached",
        run: () => Effect.runPromise(uncached.load(PRINCIPAL)),
        size: permissionCount
      },
      {
        dialect: d,
        name: "4. SqlGrantStore.load, cached (hit)",
        run: () => Effect.runPromise(cached.load(PRINCIPAL)),
        size: permissionCount
      },
      {
        dialect: d,
        name: "5. request path (fromIdentity + describe), uncached",
        run: describeWith(uncachedSources),
        size: permissionCount
      },
      {
        dialect: d,
        name: "5. request path (fromIdentity + describe), cached (hit)",
        run: describeWith(cachedSources),
        size: permissionCount
      }
    )
  }

  // --- Harness -------------------------------------------------------------------------------------------------------

  // Every answer is checked (outside the timed span): a case whose lookups start failing or answering less
  // would otherwise report the speed of something else.
  const expectedSize = (c, size) => {
    if (size < 0) throw new Error(`${c.name}: unexpected answer during the run`)
    sink += size
  }

  const lookups = async (c, n, samples) => {
    for (let i = 0; i < n; i++) {
      const start = process.hrtime.bigint()
      let value = c.run()
      if (value instanceof Promise) value = await value
      const elapsed = process.hrtime.bigint() - start
      samples?.push(Number(elapsed))
      expectedSize(c, c.size(value))
    }
  }

  const benchStarted = Date.now()
  for (const c of cases) await lookups(c, WARMUP)
  const samples = cases.map(() => [])
  const roundP50 = cases.map(() => [])
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < cases.length; i++) {
      const these = []
      await lookups(cases[i], LOOKUPS, these)
      samples[i].push(...these)
      roundP50[i].push(quantile(these, 0.5))
    }
  }
  const benchSeconds = ((Date.now() - benchStarted) / 1000).toFixed(1)
  await report(samples, roundP50, benchSeconds)
} finally {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  for (const close of closers) await close().catch((error) => console.error(`Cleanup failed: ${error.message}`))
}

// --- Report ----------------------------------------------------------------------------------------------------------

function quantile(values, q) {
  const s = Float64Array.from(values).sort()
  return s[Math.max(0, Math.ceil(q * s.length) - 1)]
}

async function report(samples, roundP50, benchSeconds) {
  const dirty = (git("status", "--porcelain", "--", "packages/core/src", "packages/sql/src") ?? "") !== ""

  const results = cases.map((c, i) => {
    const mean = samples[i].reduce((a, b) => a + b, 0) / samples[i].length
    return {
      ...c,
      p50: quantile(samples[i], 0.5),
      p99: quantile(samples[i], 0.99),
      mean,
      slowestP50: Math.max(...roundP50[i])
    }
  })
  const time = (ns) =>
    ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(1)} µs` : `${Math.round(ns)} ns`
  const ops = (ns) => Math.round(1e9 / ns).toLocaleString("en-US")
  const ratio = (r) => (r >= 0.1 ? `${r.toFixed(2)}×` : r >= 0.001 ? `${r.toFixed(3)}×` : `${r.toExponential(1)}×`)

  const tableOf = (rows, baseline) =>
    [
      `| Case | p50 | p99 | mean | ops/s | slowest round p50 |${baseline ? " p50 vs raw | mean vs raw |" : ""}`,
      `| --- | ---: | ---: | ---: | ---: | ---: |${baseline ? " ---: | ---: |" : ""}`,
      ...rows.map(
        (r) =>
          `| ${r.name} | ${time(r.p50)} | ${time(r.p99)} | ${time(r.mean)} | ${ops(r.mean)} | ${time(r.slowestP50)} |` +
          (baseline ? ` ${ratio(r.p50 / baseline.p50)} | ${ratio(r.mean / baseline.mean)} |` : "")
      )
    ].join("\n")

  const sections = opened.map((d) => {
    const rows = results.filter((r) => r.dialect === d.name)
    const baseline = rows.find((r) => r.baseline)
    return `#### ${d.version}

Statements per \`describe\`: ${d.counts.uncached} uncached, ${d.counts.hit} cached (hit); ${d.rawRows} rows per lookup; seeded in ${d.seedSeconds} s.

${tableOf(rows, baseline)}`
  })
  const floor = `#### Floor: in-memory store (same model)

${tableOf(
  results.filter((r) => r.dialect === undefined),
  undefined
)}`

  const facts = [
    `- Date: ${new Date().toISOString()}`,
    `- CPU: ${cpuModel()}, ${Os.cpus().length} logical cores (the benchmark runs on one thread)`,
    `- Node ${process.version} (V8 ${process.versions.v8}), ${process.platform} ${process.arch}`,
    `- @effect-auth/core ${packageVersion("core")}, @effect-auth/sql ${packageVersion("sql")} ` +
      `(built dist, commit ${commit()}${dirty ? " with uncommitted changes" : ""}), ` +
      `effect ${dependencyVersion("effect")}, @effect/sql ${dependencyVersion("@effect/sql")}, ` +
      `@effect/sql-pg ${dependencyVersion("@effect/sql-pg")}, ` +
      `@effect/sql-mysql2 ${dependencyVersion("@effect/sql-mysql2")}, ` +
      `@effect/sql-sqlite-node ${dependencyVersion("@effect/sql-sqlite-node")}, pg ${dependencyVersion("pg")}, ` +
      `mysql2 ${dependencyVersion("mysql2")}, better-sqlite3 ${dependencyVersion("better-sqlite3")}`,
    `- Servers: ${opened.map((d) => `${d.version} on ${d.where}`).join(", ")}; pools of 10 connections`,
    `- ${ROUNDS} rounds of ${LOOKUPS} sequential lookups per case after ${WARMUP} warm-up lookups, cases of all ` +
      `dialects interleaved; whole run ${((Date.now() - started) / 1000).toFixed(1)} s ` +
      `(${benchSeconds} s of it timing lookups)`
  ].join("\n")

  const modelFacts =
    `One principal in ${GROUPS} groups, each granting 2 roles; ${CHAINS} of those roles head an inheritance ` +
    `chain ${CHAIN_DEPTH} roles deep: ${expected.roles.length} effective roles and exactly ` +
    `${expected.permissions.length} effective permissions, checked against \`GrantStore.resolve\` for every ` +
    `store, \`describe\` and the raw statement's rows before timing. ${OTHER_PRINCIPALS} other principals are in ` +
    `the same groups. Seeded with \`SqlAdmin.grant\` after \`Migrations.run\`.`

  const statement = opened[0]?.statement
  const statementBlock =
    statement === undefined
      ? ""
      : `

<details><summary>The statement the store sent on ${opened[0].label} (copied from the driver, run as is by the raw cases)</summary>

\`\`\`sql
${statement.text
  .split("\n")
  .map((line) => line.replace(/\s+$/, ""))
  .filter((line) => line.trim() !== "")
  .join("\n")
  .replace(/^ {4}/gm, "")}
\`\`\`

Parameters: \`${JSON.stringify(statement.params)}\`. The other dialects get the same text with their own placeholders and identifier quoting.

</details>`

  const notesBlock = notes.length === 0 ? "" : `\n\n${notes.join("\n")}`
  const text = `${facts}\n\n${sections.join("\n\n")}\n\n${floor}${notesBlock}`
  console.log(`\n${text}`)
  if (sink === -1) console.log("unreachable")

  if (write) {
    const out = await writeSection(
      "sql-grants",
      `## SQL grant lookups (\`sql-grants.mjs\`)

Reproduce from the repository root:

\`\`\`sh
npm run build && node bench/sql-grants.mjs
\`\`\`

### Machine

${facts}

### Model

${modelFacts}${statementBlock}

### Results

${sections.join("\n\n")}

${floor}${notesBlock}
`
    )
    console.log(`\nWrote the sql-grants section of ${out}`)
  }
}

/**
 * Fault injection on the gateway's API keys file (`AUTH_API_KEYS_FILE`): deleted, emptied, cut in the
 * middle of a line, cut after its first line, replaced by a rename and rewritten in place, while the built
 * gateway keeps running. The file's documented contract: a file that cannot be read or holds no valid key
 * keeps the keys loaded before; a file with valid keys replaces them in one step. Each phase sends a fixed
 * mix of keys (the two sets, an unknown key, an altered and a truncated one) and checks every answer: no key
 * outside the current valid set is ever accepted, and no answer is a 503, a 500 or missing.
 */
import { ApiKey, ApiKeyFile } from "@effect-auth/core"
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import type { Gateway } from "../helpers.js"
import { cleanup, eventually, startGateway, tempDir } from "../helpers.js"
import { tableRow, tally } from "./outcomes.js"

afterEach(cleanup)

const scenario = "API keys file"
const boundMillis = 10_000

/** The status of one request, or 0 when it failed or took longer than the bound. */
const statusOf = async (gateway: Gateway, key: string): Promise<number> => {
  try {
    const response = await fetch(`${gateway.url}/whoami`, {
      headers: { authorization: `Bearer ${key}` },
      signal: AbortSignal.timeout(boundMillis)
    })
    await response.arrayBuffer()
    return response.status
  } catch {
    return 0
  }
}

/** The same key with one character in the middle changed. */
const altered = (key: string) => {
  const at = Math.floor(key.length / 2)
  return `${key.slice(0, at)}${key[at] === "A" ? "B" : "A"}${key.slice(at + 1)}`
}

const [old1, old2, new1, new2] = [ApiKey.generate(), ApiKey.generate(), ApiKey.generate(), ApiKey.generate()]
const oldSet = [
  ["old-one", old1],
  ["old-two", old2]
] as const
const newSet = [
  ["new-one", new1],
  ["new-two", new2]
] as const

/** The file's text for a set of keys: hashed lines, as `effect-auth keys create` writes them. */
const textOf = (keys: ReadonlyArray<readonly [string, string]>) =>
  keys.map(([keyId, key]) => `${ApiKeyFile.formatLine(keyId, key)}\n`).join("")

/** Keys that are in no file at any time; none of them may ever be accepted. */
const outsiders = {
  unknown: ApiKey.generate(),
  "old-one altered": altered(old1),
  "new-one altered": altered(new1),
  "old-one truncated": old1.slice(0, 20)
}

const mix: ReadonlyArray<readonly [string, string]> = [
  ["old-one", old1],
  ["old-two", old2],
  ["new-one", new1],
  ["new-two", new2],
  ...Object.entries(outsiders)
]

/** The answers the mix must get when exactly `accepted` (names of the mix) are the loaded keys. */
const expectedWith = (accepted: ReadonlyArray<string>) =>
  mix.map(([name]) => [name, accepted.includes(name) ? 200 : 401] as const)

const oldKeys = ["old-one", "old-two"]
const newKeys = ["new-one", "new-two"]

/** How often `text` appears in the gateway's output so far. */
const occurrences = (gateway: Gateway, text: string) => gateway.output().split(text).length - 1

/** Runs `change`, then waits until the gateway logs `text` once more than before: the file was read. */
const changeAndWaitForLog = async (gateway: Gateway, text: string, change: () => Promise<void>) => {
  const before = occurrences(gateway, text)
  await change()
  await eventually(async () => expect(occurrences(gateway, text)).toBeGreaterThan(before), 15_000)
}

/**
 * Requests one key after another (old-one, new-one, then the outsiders) until `stop` resolves, so that a
 * reload lands between requests: the answers in the order they were sent.
 */
const hammer = async (gateway: Gateway, stop: Promise<void>) => {
  let stopped = false
  void stop.then(() => (stopped = true))
  const seen: Array<readonly [string, number]> = []
  const sequence: ReadonlyArray<readonly [string, string]> = [
    ["old-one", old1],
    ["new-one", new1],
    ...Object.entries(outsiders)
  ]
  while (!stopped) {
    for (const [name, key] of sequence) seen.push([name, await statusOf(gateway, key)])
  }
  return seen
}

/** A swap from `from` to `to` seen by sequential requests: once a key of `to` was accepted, no key of `from` is. */
const expectOneSwap = (seen: ReadonlyArray<readonly [string, number]>, from: string, to: string) => {
  expect(seen.length).toBeGreaterThan(0)
  const statuses = seen.map(([, status]) => status)
  expect(tally(statuses).other + tally(statuses).deferred).toBe(0)
  for (const [name, status] of seen) {
    if (name in outsiders) expect([name, status]).toEqual([name, 401])
    else expect([200, 401], name).toContain(status)
  }
  const firstNew = seen.findIndex(([name, status]) => name === to && status === 200)
  let lastOld = -1
  seen.forEach(([name, status], i) => {
    if (name === from && status === 200) lastOld = i
  })
  expect(lastOld).toBeLessThan(firstNew === -1 ? Infinity : firstNew)
}

describe("the API keys file taken away, broken and replaced while the gateway runs", () => {
  it("keeps the last valid set while the file is unreadable or invalid, swaps to a replaced set without a restart, and never accepts a key of no valid set", async () => {
    const dir = await tempDir()
    const file = Path.join(dir, "api_keys.txt")
    await Fs.writeFile(file, textOf(oldSet))
    const gateway = await startGateway({ AUTH_API_KEYS_FILE: file }, dir)
    const rows = [
      "| scenario | phase | accepted | refused | limited | deferred | other |",
      "|---|---|---|---|---|---|---|"
    ]

    const phase = async (name: string, accepted: ReadonlyArray<string>) => {
      // Three rounds, so that a reload racing the first round could not hide.
      const statuses: Array<number> = []
      for (let round = 0; round < 3; round++) {
        const answers = await Promise.all(mix.map(([, key]) => statusOf(gateway, key)))
        statuses.push(...answers)
        expect(mix.map(([keyName], i) => [keyName, answers[i]])).toEqual(expectedWith(accepted))
      }
      rows.push(tableRow(scenario, name, tally(statuses)))
      console.log(rows.at(-1))
    }
    /** Writes `text` to a temporary file beside it and renames it over the keys file, as deploy tools do. */
    const replace = async (text: string) => {
      const temporary = Path.join(dir, ".api_keys.txt.new")
      await Fs.writeFile(temporary, text)
      await Fs.rename(temporary, file)
    }

    await phase("before", oldKeys)

    await changeAndWaitForLog(gateway, "cannot be read (ENOENT); keeping the 2 key(s)", () => Fs.rm(file))
    await phase("deleted", oldKeys)

    await changeAndWaitForLog(gateway, "changed but has no valid keys; keeping the 2 key(s)", () =>
      Fs.writeFile(file, "")
    )
    await phase("empty file", oldKeys)

    const firstLine = ApiKeyFile.formatLine("old-one", old1)
    const halfLine = firstLine.slice(0, Math.floor(firstLine.length / 2))
    await changeAndWaitForLog(gateway, "changed but has no valid keys (1 skipped); keeping the 2 key(s)", () =>
      Fs.writeFile(file, halfLine)
    )
    await phase("half a line", oldKeys)

    // Documented: a file with some valid keys replaces the set, so a file cut after its first line is loaded.
    const cutAfterFirstLine = textOf(oldSet).slice(0, firstLine.length + 1 + 20)
    await changeAndWaitForLog(gateway, "reloaded: 1 key(s)", () => Fs.writeFile(file, cutAfterFirstLine))
    await phase("cut after line 1", ["old-one"])

    await changeAndWaitForLog(gateway, "reloaded: 2 key(s)", () => replace(textOf(oldSet)))
    await phase("restored", oldKeys)

    // Replaced by a rename while requests keep coming: one swap, from the whole old set to the whole new one.
    let stop!: () => void
    const stopped = new Promise<void>((resolve) => (stop = resolve))
    const renamed = hammer(gateway, stopped)
    await changeAndWaitForLog(gateway, "reloaded: 2 key(s)", () => replace(textOf(newSet)))
    stop()
    const duringRename = await renamed
    rows.push(tableRow(scenario, "while renamed over", tally(duringRename.map(([, status]) => status))))
    expectOneSwap(duringRename, "old-one", "new-one")
    await phase("replaced (rename)", newKeys)

    // Rewritten in place and read half-written: the half line holds no valid key, so the new set stays;
    // once the write completes, the old set is back.
    const handle = await Fs.open(file, "w")
    try {
      const text = textOf(oldSet)
      await changeAndWaitForLog(gateway, "changed but has no valid keys (1 skipped); keeping the 2 key(s)", () =>
        handle.write(halfLine, 0).then(() => handle.sync())
      )
      await phase("rewritten in place, half", newKeys)
      let stopRewrite!: () => void
      const rewritten = hammer(gateway, new Promise<void>((resolve) => (stopRewrite = resolve)))
      await changeAndWaitForLog(gateway, "reloaded: 2 key(s)", () =>
        handle.write(text.slice(halfLine.length), halfLine.length).then(() => handle.sync())
      )
      stopRewrite()
      const duringRewrite = await rewritten
      rows.push(tableRow(scenario, "while rewritten", tally(duringRewrite.map(([, status]) => status))))
      expectOneSwap(duringRewrite, "new-one", "old-one")
    } finally {
      await handle.close()
    }
    await phase("rewritten in place, whole", oldKeys)

    expect(gateway.child.exitCode).toBeNull()
    // Warnings name the file and the key ids, never a key.
    for (const key of [old1, old2, new1, new2]) expect(gateway.output()).not.toContain(key)
    console.log(rows.join("\n"))
  })
})

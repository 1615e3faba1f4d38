import * as Fs from "node:fs/promises"

/** The `code` of a node system error (`EACCES`, `EISDIR`, …): safe to log, unlike a whole error object. */
export const errorCode = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : "unknown error"

/** Largest single write: whole lines only, so a concurrent writer of the same file cannot split one. */
const maxWriteBytes = 64 * 1024

/** What the appender noticed while writing, for the caller to log. */
export interface AppendResult {
  /** The path was (re)opened: first write, or the file was rotated or deleted since the last batch. */
  readonly opened: boolean
  /** The file at the path (not created by us) can be read or written by the group or others. */
  readonly loosePermissions: boolean
}

/**
 * An append-only writer of complete lines to a path that may be rotated under it. Not safe for concurrent
 * use: the audit log's single drain fiber calls it.
 */
export interface Appender {
  readonly append: (lines: ReadonlyArray<string>) => Promise<AppendResult>
  readonly close: () => Promise<void>
}

export const makeAppender = (path: string): Appender => {
  let handle: Fs.FileHandle | undefined
  let inode: { readonly dev: number; readonly ino: number } | undefined
  // Set when a write failed halfway through a line: the next write starts with a newline, so the broken
  // fragment stays on its own line instead of corrupting the next entry.
  let dangling = false

  const closeHandle = async () => {
    const old = handle
    handle = undefined
    inode = undefined
    dangling = false
    if (old !== undefined) await old.close().catch(() => undefined)
  }

  // logrotate renames (or deletes) the file and expects the writer to start a fresh one at the path: compare
  // the path's inode with the open descriptor's before every batch.
  const rotated = async (): Promise<boolean> => {
    if (handle === undefined || inode === undefined) return true
    try {
      const current = await Fs.stat(path)
      return current.ino !== inode.ino || current.dev !== inode.dev
    } catch (error) {
      if (errorCode(error) === "ENOENT") return true
      throw error
    }
  }

  const open = async (): Promise<{ readonly handle: Fs.FileHandle; readonly loosePermissions: boolean }> => {
    // O_APPEND: every write lands at the current end of the file, whoever else appends to it. The audit log
    // names who called what, so a new file is readable by its owner only.
    const opened = await Fs.open(path, "a", 0o600)
    try {
      const stats = await opened.stat()
      handle = opened
      inode = { dev: stats.dev, ino: stats.ino }
      return { handle: opened, loosePermissions: stats.isFile() && (stats.mode & 0o077) !== 0 }
    } catch (error) {
      await opened.close().catch(() => undefined)
      throw error
    }
  }

  const writeAll = async (target: Fs.FileHandle, data: Buffer) => {
    let offset = 0
    try {
      while (offset < data.length) {
        const { bytesWritten } = await target.write(data, offset, data.length - offset)
        offset += bytesWritten
      }
    } catch (error) {
      if (offset > 0) dangling = true
      throw error
    }
  }

  const append = async (lines: ReadonlyArray<string>): Promise<AppendResult> => {
    let opened = false
    let loosePermissions = false
    if (await rotated()) {
      await closeHandle()
      const result = await open()
      opened = true
      loosePermissions = result.loosePermissions
    }
    const target = handle
    if (target === undefined) return { opened, loosePermissions }
    let chunk: Array<string> = dangling ? ["\n"] : []
    let size = chunk.length
    dangling = false
    for (const line of lines) {
      const next = line + "\n"
      const bytes = Buffer.byteLength(next)
      if (size > 0 && size + bytes > maxWriteBytes) {
        await writeAll(target, Buffer.from(chunk.join(""), "utf8"))
        chunk = []
        size = 0
      }
      chunk.push(next)
      size += bytes
    }
    if (size > 0) await writeAll(target, Buffer.from(chunk.join(""), "utf8"))
    return { opened, loosePermissions }
  }

  return { append, close: closeHandle }
}

/**
 * A bounded least-recently-used map. A `Map` iterates in insertion order, so re-inserting on every read
 * keeps the least recently used entry first.
 */
export interface Lru<K, V> {
  readonly get: (key: K) => V | undefined
  readonly set: (key: K, value: V) => void
  readonly delete: (key: K) => void
  readonly size: () => number
}

/** An empty LRU holding at most `maxEntries` (at least 1). */
export const make = <K, V>(maxEntries: number): Lru<K, V> => {
  const map = new Map<K, V>()
  return {
    get: (key) => {
      const value = map.get(key)
      if (value === undefined) return undefined
      map.delete(key)
      map.set(key, value)
      return value
    },
    set: (key, value) => {
      map.delete(key)
      map.set(key, value)
      while (map.size > maxEntries) {
        const oldest = map.keys().next()
        if (oldest.done === true) break
        map.delete(oldest.value)
      }
    },
    delete: (key) => {
      map.delete(key)
    },
    size: () => map.size
  }
}

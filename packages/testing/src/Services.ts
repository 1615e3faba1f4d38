/**
 * Shared services a test suite needs (Redis, PostgreSQL, MariaDB, ...): is one answering, and should
 * its suite run. A missing service skips the suite with a warning, unless `AUTH_TEST_REQUIRE_SERVICES=1`
 * (CI) makes it a failure.
 *
 * @since 0.1.0
 */
import * as Net from "node:net"

/**
 * A service to probe. `probe` is `"redis"` (a `PING` answered by `+PONG`) or `"tcp"` (a connection is
 * accepted; the default). `timeoutMillis` defaults to 1000.
 *
 * @since 0.1.0
 */
export interface Service {
  readonly host: string
  readonly port: number
  readonly timeoutMillis?: number | undefined
  readonly probe?: "redis" | "tcp" | undefined
}

/**
 * Whether the service answers on `host:port`. Never rejects.
 *
 * @since 0.1.0
 */
export const isReachable = (service: Service): Promise<boolean> =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect({ host: service.host, port: service.port })
    const done = (up: boolean) => {
      socket.destroy()
      resolve(up)
    }
    socket.setTimeout(service.timeoutMillis ?? 1000, () => done(false))
    socket.once("error", () => done(false))
    socket.once("close", () => done(false))
    socket.once("connect", () => (service.probe === "redis" ? socket.write("PING\r\n") : done(true)))
    socket.once("data", (data) => done(data.toString().startsWith("+PONG")))
  })

/**
 * Whether missing services are failures: `AUTH_TEST_REQUIRE_SERVICES=1`.
 *
 * @since 0.1.0
 */
export const required = (): boolean => process.env["AUTH_TEST_REQUIRE_SERVICES"] === "1"

/**
 * Whether to run the suite that needs `service` (called `name` in the warning): when it is reachable, or
 * when services are `required` (so that its tests fail rather than vanish). Otherwise warns and answers
 * `false`.
 *
 * @example
 * const redis = { host: "127.0.0.1", port: 6379, probe: "redis" } as const
 * describe.runIf(await Services.shouldRun("Redis", redis))("on Redis", () => { ... })
 *
 * @since 0.1.0
 */
export const shouldRun = async (name: string, service: Service): Promise<boolean> => {
  if (await isReachable(service)) return true
  if (required()) return true
  console.warn(
    `${name} is not reachable on ${service.host}:${service.port}: skipping its tests ` +
      "(set AUTH_TEST_REQUIRE_SERVICES=1 to make this a failure)"
  )
  return false
}

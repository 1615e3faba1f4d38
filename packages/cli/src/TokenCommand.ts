/**
 * `effect-auth token inspect <jwt>`: decodes a JWT's header and claims, and verifies it through the same
 * verifier and JWKS cache the `@effect-auth/jwt` provider uses when `--issuer` or `--jwks-url` is given.
 *
 * @since 0.1.0
 */
import type { AuthError } from "@effect-auth/core"
import { JwksCache, JwtVerifier, KeySet, Oidc } from "@effect-auth/jwt"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { CliFailure, fail } from "./internal/failure.js"
import * as Stdin from "./internal/stdin.js"

/**
 * Exit code of a token that was checked and refused.
 *
 * @since 0.1.0
 */
export const invalidExitCode = 2

/**
 * A decoded (not verified) JWS compact token.
 *
 * @since 0.1.0
 */
export interface Decoded {
  readonly header: Readonly<Record<string, unknown>>
  readonly claims: Readonly<Record<string, unknown>>
}

// Far above any real token (the verifier itself refuses more than 8 KiB); a bound for decoding only.
const maxTokenLength = 1024 * 1024
const base64url = /^[A-Za-z0-9_-]+$/

const decodePart = (part: string, name: string): Either.Either<Record<string, unknown>, string> => {
  if (!base64url.test(part)) return Either.left(`the ${name} is not base64url`)
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"))
  } catch {
    // Not the SyntaxError's message: it quotes the decoded text.
    return Either.left(`the ${name} is not JSON`)
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? Either.right(value as Record<string, unknown>)
    : Either.left(`the ${name} is not a JSON object`)
}

/**
 * Decodes a JWS compact token without verifying it. The failure says what is wrong, never quoting the token.
 *
 * @since 0.1.0
 */
export const decode = (token: string): Either.Either<Decoded, string> => {
  if (token.length > maxTokenLength) return Either.left("the token is larger than 1 MiB")
  const parts = token.split(".")
  if (parts.length === 5) return Either.left("the token is encrypted (JWE): only signed tokens (JWS) can be inspected")
  if (parts.length !== 3) return Either.left("not a JWT (expected three base64url parts separated by dots)")
  return Either.flatMap(decodePart(parts[0]!, "header"), (header) =>
    Either.map(decodePart(parts[1]!, "payload"), (claims) => ({ header, claims }))
  )
}

const dateClaims = ["iat", "nbf", "exp", "auth_time", "updated_at"] as const

/**
 * The date claims of a claims set (`iat`, `nbf`, `exp`, `auth_time`, `updated_at`) as ISO-8601 lines, with
 * how far from `now` (epoch milliseconds) each one is.
 *
 * @since 0.1.0
 */
export const describeDates = (claims: Readonly<Record<string, unknown>>, now: number): ReadonlyArray<string> =>
  dateClaims.flatMap((name) => {
    const value = claims[name]
    if (typeof value !== "number" || !Number.isFinite(value)) return []
    const millis = value * 1000
    const date = new Date(millis)
    if (Number.isNaN(date.getTime())) return [`${name}: ${value} (not a valid date)`]
    const seconds = Math.round((millis - now) / 1000)
    const distance = Duration.format(Duration.seconds(Math.abs(seconds)))
    const relative = seconds === 0 ? "now" : seconds > 0 ? `in ${distance}` : `${distance} ago`
    return [`${name}: ${date.toISOString()} (${relative})`]
  })

const parseAlgorithms = (value: string): Either.Either<ReadonlyArray<KeySet.Algorithm>, CliFailure> => {
  const names = value
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "")
  const unsupported = names.filter((name) => !KeySet.isAlgorithm(name))
  if (names.length === 0 || unsupported.length > 0) {
    return Either.left(
      fail(
        `invalid --algorithms${unsupported.length > 0 ? ` (${unsupported.join(", ")})` : ""}: ` +
          `supported are ${KeySet.algorithms.join(", ")}`
      )
    )
  }
  return Either.right(names.filter(KeySet.isAlgorithm))
}

interface Verification {
  readonly issuer: Option.Option<string>
  readonly jwksUrl: Option.Option<string>
  readonly audience: Option.Option<string>
  readonly algorithms: ReadonlyArray<KeySet.Algorithm>
}

const unavailable = (error: AuthError.ProviderUnavailable): CliFailure => {
  // The cause is the library's FetchFailure, whose message names the problem without any response data.
  const detail = error.cause instanceof Error && error.cause.name === "FetchFailure" ? `: ${error.cause.message}` : ""
  return fail(`cannot get the issuer's keys (${error.reason})${detail}`)
}

const verify = (token: string, settings: Verification): Effect.Effect<void, CliFailure> =>
  Effect.gen(function* () {
    const url = Option.getOrUndefined(settings.jwksUrl)
    const issuer = Option.getOrUndefined(settings.issuer)
    // Keys fetched over plain HTTP could be swapped on the way, the same rule as the provider's.
    if (url !== undefined && !Oidc.isSecureUrl(url)) {
      return yield* Effect.fail(fail("invalid --jwks-url: use an https URL (http only to localhost)"))
    }
    if (url === undefined && issuer !== undefined && !Oidc.isSecureUrl(issuer)) {
      return yield* Effect.fail(fail("invalid --issuer for discovery: use an https URL (http only to localhost)"))
    }
    if (issuer === undefined) yield* Console.error("note: the issuer (iss) is not checked: no --issuer given")
    if (Option.isNone(settings.audience)) {
      yield* Console.error("note: the audience (aud) is not checked: no --audience given")
    }
    const verifier = yield* JwtVerifier.make({
      algorithms: settings.algorithms,
      issuer: issuer ?? (() => true),
      audience: Option.getOrUndefined(settings.audience)
    }).pipe(Effect.mapError(() => fail("invalid verification options")))
    const keys = yield* JwksCache.make({
      url: url ?? Oidc.jwksUri(issuer ?? "", { provider: "effect-auth" }),
      provider: "effect-auth"
    })
    const result = yield* Effect.either(verifier.verify(token, keys))
    if (Either.isRight(result)) return yield* Console.log("valid")
    const error = result.left
    if (error._tag === "ProviderUnavailable") return yield* Effect.fail(unavailable(error))
    yield* Console.log(`invalid: ${error.reason}`)
    // The detail is written by the verifier and never quotes the token.
    if (error.detail !== undefined) yield* Console.error(`detail: ${error.detail}`)
    return yield* Effect.fail(new CliFailure({ message: "", exitCode: invalidExitCode }))
  }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

const inspect = Command.make(
  "inspect",
  {
    jwt: Args.text({ name: "jwt" }).pipe(
      Args.withDescription(
        "The token, or - (after the options) to read it from stdin, which keeps it out of the shell history"
      )
    ),
    issuer: Options.text("issuer").pipe(
      Options.withDescription("Verify: the expected iss; also where keys are discovered when --jwks-url is not given"),
      Options.optional
    ),
    jwksUrl: Options.text("jwks-url").pipe(
      Options.withDescription("Verify with the keys at this JWKS URL"),
      Options.optional
    ),
    audience: Options.text("audience").pipe(
      Options.withDescription("Verify: the audience that aud must contain"),
      Options.optional
    ),
    algorithms: Options.text("algorithms").pipe(
      Options.withDescription(
        `Verify: accepted algorithms, comma-separated (default RS256; ${KeySet.algorithms.join(",")})`
      ),
      Options.withDefault("RS256")
    )
  },
  (options) =>
    Effect.gen(function* () {
      const algorithms = yield* parseAlgorithms(options.algorithms)
      const token = (options.jwt === "-" ? yield* Stdin.readAll : options.jwt).trim()
      const decoded = yield* Either.mapLeft(decode(token), (reason) => fail(`cannot decode the token: ${reason}`))
      const now = Date.now()
      yield* Console.log(`header:\n${JSON.stringify(decoded.header, null, 2)}`)
      yield* Console.log(`claims:\n${JSON.stringify(decoded.claims, null, 2)}`)
      const dates = describeDates(decoded.claims, now)
      if (dates.length > 0) yield* Console.log(`dates:\n${dates.map((line) => `  ${line}`).join("\n")}`)
      if (Option.isNone(options.issuer) && Option.isNone(options.jwksUrl)) {
        return yield* Console.error("note: not verified (give --issuer and/or --jwks-url to verify the signature)")
      }
      yield* verify(token, {
        issuer: options.issuer,
        jwksUrl: options.jwksUrl,
        audience: options.audience,
        algorithms
      })
    })
).pipe(
  Command.withDescription(
    "Decode a JWT's header and claims; with --issuer and/or --jwks-url, verify it (exit 0 valid, 2 invalid)"
  )
)

/**
 * The `token` command group.
 *
 * @since 0.1.0
 */
export const command = Command.make("token").pipe(
  Command.withDescription("Inspect and verify JWTs"),
  Command.withSubcommands([inspect])
)

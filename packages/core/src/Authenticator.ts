/**
 * The service that turns a request's headers into a {@link Principal}. Built from identity providers;
 * with none, every request is refused.
 *
 * @since 0.1.0
 */
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { AuthenticationError } from "./AuthError.js"
import { InvalidCredentials, MissingCredentials } from "./AuthError.js"
import * as AuthConfig from "./AuthConfig.js"
import type { AuthProvider, Challenge } from "./AuthProvider.js"
import * as Credential from "./Credential.js"
import * as Identity from "./Identity.js"
import * as Principal from "./Principal.js"

/**
 * @since 0.1.0
 */
export interface Authenticator {
  /** Reads the credential from the headers and authenticates it. */
  readonly authenticate: (headers: Credential.Headers) => Effect.Effect<Principal.Principal, AuthenticationError>
  /** Authenticates a credential already read. */
  readonly authenticateCredential: (
    credential: Credential.Credential
  ) => Effect.Effect<Principal.Principal, AuthenticationError>
  /** What a 401 answer should ask for, one entry per configured scheme. */
  readonly challenges: ReadonlyArray<Challenge>
  /**
   * `authenticate` without a fiber, for adapters on the hot path: the same decision when the provider can
   * make it synchronously (a JWT whose keys are in memory), `undefined` when `authenticate` has to run.
   * `nowMillis` is the time of the `Clock` `authenticate` would use.
   */
  readonly authenticateNow?:
    | ((
        headers: Credential.Headers,
        nowMillis: number
      ) => Either.Either<Principal.Principal, AuthenticationError> | undefined)
    | undefined
}

/**
 * @since 0.1.0
 */
export const Authenticator: Context.Tag<Authenticator, Authenticator> = Context.GenericTag<Authenticator>(
  "@effect-auth/core/Authenticator"
)

/**
 * @since 0.1.0
 */
export interface Options {
  readonly providers: ReadonlyArray<AuthProvider>
  readonly credentials?: Credential.Options | undefined
}

/**
 * Builds an authenticator. Grant providers (`GroupsProvider`, …) are read from context once, here.
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Authenticator> =>
  Effect.map(Principal.grantSources, (sources) => {
    const providers = options.providers
    const challenges = dedupeChallenges(providers.map((provider) => provider.challenge))
    const toPrincipal = (identity: Identity.Identity) => Principal.fromIdentity(identity, sources)
    /** The first provider that takes the credential; none means it is refused, never waved through. */
    const providerFor = (credential: Credential.Credential): AuthProvider | undefined => {
      for (const provider of providers) if (provider.accepts(credential)) return provider
      return undefined
    }
    const unsupported = (credential: Credential.Credential) =>
      new InvalidCredentials({ reason: "unsupported-scheme", scheme: credential._tag })
    /** The synchronous lane's decision, or `undefined` when the provider has to be run as an Effect. */
    const decideNow = (
      provider: AuthProvider,
      credential: Credential.Credential,
      nowMillis: number
    ): Either.Either<Principal.Principal, AuthenticationError> | undefined => {
      const decided = provider.authenticateNow?.(credential, nowMillis)
      if (decided === undefined) return undefined
      return Either.isRight(decided)
        ? Either.right(Principal.forRequest(decided.right, sources))
        : Either.left(decided.left)
    }
    const authenticateCredential = (
      credential: Credential.Credential
    ): Effect.Effect<Principal.Principal, AuthenticationError> => {
      const provider = providerFor(credential)
      if (provider === undefined) return Either.left(unsupported(credential))
      if (provider.authenticateNow === undefined) return Effect.flatMap(provider.authenticate(credential), toPrincipal)
      // The synchronous lane when the provider has one: this runs on every request.
      return Effect.clockWith(
        (clock) =>
          decideNow(provider, credential, clock.unsafeCurrentTimeMillis()) ??
          Effect.flatMap(provider.authenticate(credential), toPrincipal)
      )
    }
    /** The request's credential, or why it has none that can be checked. */
    const parse = (headers: Credential.Headers): Credential.Credential | AuthenticationError =>
      Credential.parse(headers, options.credentials)
    const isCredential = (parsed: Credential.Credential | AuthenticationError): parsed is Credential.Credential =>
      !(parsed instanceof MissingCredentials || parsed instanceof InvalidCredentials)
    return Authenticator.of({
      challenges,
      authenticateCredential,
      authenticate: (headers) =>
        Effect.suspend(() => {
          const credential = parse(headers)
          return isCredential(credential) ? authenticateCredential(credential) : Either.left(credential)
        }),
      authenticateNow: (headers, nowMillis) => {
        const credential = parse(headers)
        if (!isCredential(credential)) return Either.left(credential)
        const provider = providerFor(credential)
        if (provider === undefined) return Either.left(unsupported(credential))
        return decideNow(provider, credential, nowMillis)
      }
    })
  })

const dedupeChallenges = (challenges: ReadonlyArray<Challenge>): ReadonlyArray<Challenge> => {
  const seen = new Set<string>()
  return challenges.filter((challenge) => {
    const key = `${challenge.scheme} ${challenge.realm ?? ""}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/**
 * Providers as the effects that build them (which may fail, or need services).
 *
 * @since 0.1.0
 */
export type ProviderEffects = ReadonlyArray<Effect.Effect<AuthProvider, unknown, unknown>>

/**
 * What building the providers may fail with.
 *
 * @since 0.1.0
 */
export type ProvidersError<Providers extends ProviderEffects> = Effect.Effect.Error<Providers[number]>

/**
 * What building the providers needs.
 *
 * @since 0.1.0
 */
export type ProvidersContext<Providers extends ProviderEffects> = Effect.Effect.Context<Providers[number]>

/**
 * An authenticator from providers that are themselves built by effects (and so may need services,
 * such as a `CredentialsRepository`). Order matters: the first provider that accepts a credential decides.
 *
 * @example
 * ```ts
 * import { Authenticator, BasicAuth, CredentialsRepository, PasswordHasher } from "@effect-auth/core"
 * import { Layer } from "effect"
 *
 * const AuthLive = Authenticator.layer([BasicAuth.provider()]).pipe(
 *   Layer.provide(CredentialsRepository.layerMemory([])),
 *   Layer.provide(PasswordHasher.layer())
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = <const Providers extends ProviderEffects>(
  providers: Providers,
  options?: { readonly credentials?: Credential.Options | undefined }
): Layer.Layer<Authenticator, ProvidersError<Providers>, Exclude<ProvidersContext<Providers>, Scope.Scope>> =>
  // Scoped: providers that hold resources (a JWKS cache's background state) live as long as the layer.
  Layer.scoped(
    Authenticator,
    Effect.flatMap(
      Effect.all(
        providers as ReadonlyArray<Effect.Effect<AuthProvider, ProvidersError<Providers>, ProvidersContext<Providers>>>
      ),
      (built) => Effect.flatMap(make({ providers: built, credentials: options?.credentials }), closesWithScope)
    )
  )

/**
 * Once the layer's scope closes (its runtime disposed), the synchronous lane stops answering from what is
 * still in memory: everything goes through `authenticate`, which the closed runtime refuses.
 */
const closesWithScope = (authenticator: Authenticator): Effect.Effect<Authenticator, never, Scope.Scope> => {
  let closed = false
  const now = authenticator.authenticateNow
  return Effect.as(
    Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
      })
    ),
    now === undefined
      ? authenticator
      : { ...authenticator, authenticateNow: (headers, nowMillis) => (closed ? undefined : now(headers, nowMillis)) }
  )
}

/**
 * The identity every request gets while authentication is disabled.
 *
 * @since 0.1.0
 */
export const developmentIdentity: Identity.Identity = Identity.make({
  id: "development",
  kind: "user",
  provider: "disabled",
  name: "Development user (authentication disabled)"
})

/**
 * Authentication switched off for local development: every request, with or without credentials, is
 * the {@link developmentIdentity}. Logs a warning each time it is built and refuses to build when
 * `NODE_ENV=production`.
 *
 * @since 0.1.0
 */
export const layerDisabled = (
  identity: Identity.Identity = developmentIdentity
): Layer.Layer<Authenticator, ConfigError.ConfigError> =>
  Layer.effect(
    Authenticator,
    Effect.gen(function* () {
      const environment = yield* AuthConfig.nodeEnv
      if (environment === "production") {
        return yield* Effect.fail(
          ConfigError.InvalidData(["AUTH_DISABLED"], "Authentication cannot be disabled when NODE_ENV=production")
        )
      }
      yield* Effect.logWarning(
        "AUTHENTICATION IS DISABLED (AUTH_DISABLED=true): every request is accepted as a development user. Never use this in production."
      )
      const sources = yield* Principal.grantSources
      const principal = Principal.fromIdentity(identity, sources)
      return Authenticator.of({
        challenges: [],
        authenticate: () => principal,
        authenticateCredential: () => principal
      })
    })
  )

/**
 * {@link layer}, or {@link layerDisabled} when `AUTH_DISABLED=true`.
 *
 * @since 0.1.0
 */
export const layerConfig = <const Providers extends ProviderEffects>(
  providers: Providers,
  options?: { readonly credentials?: Credential.Options | undefined }
): Layer.Layer<
  Authenticator,
  ConfigError.ConfigError | ProvidersError<Providers>,
  Exclude<ProvidersContext<Providers>, Scope.Scope>
> =>
  Layer.unwrapEffect(
    Effect.map(
      AuthConfig.disabled,
      (
        disabled
      ): Layer.Layer<
        Authenticator,
        ConfigError.ConfigError | ProvidersError<Providers>,
        Exclude<ProvidersContext<Providers>, Scope.Scope>
      > => (disabled ? layerDisabled() : layer(providers, options))
    )
  )

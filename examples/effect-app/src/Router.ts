/**
 * The plain `HttpRouter` example: the same kind of endpoints without `HttpApi`, behind
 * `HttpAuthMiddleware`, which provides `Authenticated` to the whole router and answers a guard's refusal
 * with the same 403.
 */
import type { Authenticator } from "@effect-auth/core"
import { Authenticated, Guard } from "@effect-auth/core"
import { HttpAuthMiddleware } from "@effect-auth/http"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"

const router = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/whoami",
    Effect.map(Authenticated.Authenticated, (principal) =>
      HttpServerResponse.unsafeJson({ id: principal.id, kind: principal.kind, provider: principal.provider })
    )
  ),
  HttpRouter.get(
    "/admin",
    Effect.map(Guard.requireGroups(["admin"]), (admin) =>
      HttpServerResponse.unsafeJson({ title: "Quarterly report", requestedBy: admin.id })
    )
  )
)

/** The router behind the middleware: every route needs a caller; needs the `Authenticator`. */
export const app: HttpApp.Default<
  HttpServerError.RouteNotFound,
  Authenticator.Authenticator | HttpServerRequest.HttpServerRequest
> = HttpAuthMiddleware.make()(router)

/**
 * The `HttpApi` example: a public health check, and two groups behind `HttpApiAuth.Authentication` (Bearer,
 * Basic or an `X-API-Key` header), one of them for group `admin` only.
 */
import { Authenticated, Guard } from "@effect-auth/core"
import { HttpApiAuth } from "@effect-auth/http"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

/** Who called, as the secured endpoints answer it. */
export class Caller extends Schema.Class<Caller>("Caller")({
  id: Schema.String,
  kind: Schema.Literal("user", "machine"),
  provider: Schema.String,
  groups: Schema.Array(Schema.String)
}) {}

export class Report extends Schema.Class<Report>("Report")({ title: Schema.String, requestedBy: Schema.String }) {}

export class Health extends HttpApiGroup.make("health").add(
  HttpApiEndpoint.get("health", "/health").addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
) {}

export class Me extends HttpApiGroup.make("me")
  .add(HttpApiEndpoint.get("whoami", "/whoami").addSuccess(Caller))
  .middleware(HttpApiAuth.Authentication) {}

export class Admin extends HttpApiGroup.make("admin")
  .add(HttpApiEndpoint.get("report", "/admin/report").addSuccess(Report))
  .middleware(HttpApiAuth.Authentication) {}

export class Api extends HttpApi.make("effect-auth-example").add(Health).add(Me).add(Admin) {}

const HealthLive = HttpApiBuilder.group(Api, "health", (handlers) =>
  handlers.handle("health", () => Effect.succeed({ status: "ok" as const }))
)

const MeLive = HttpApiBuilder.group(Api, "me", (handlers) =>
  handlers.handle("whoami", () =>
    Effect.gen(function* () {
      const principal = yield* Authenticated.Authenticated
      // Reading groups may need a lookup that can fail (503): mapped like every other auth error.
      const groups = yield* HttpApiAuth.authorize(principal.groups)
      return new Caller({ id: principal.id, kind: principal.kind, provider: principal.provider, groups })
    })
  )
)

const AdminLive = HttpApiBuilder.group(Api, "admin", (handlers) =>
  handlers.handle("report", () =>
    Effect.gen(function* () {
      // A guard's Forbidden becomes the 403 answer (`HttpApiAuth.Forbidden`) the group declares.
      const admin = yield* HttpApiAuth.authorize(Guard.requireGroups(["admin"]))
      return new Report({ title: "Quarterly report", requestedBy: admin.id })
    })
  )
)

/** The API with its handlers; needs the middleware's implementation (`HttpApiAuth.layer`). */
export const ApiLive = HttpApiBuilder.api(Api).pipe(Layer.provide([HealthLive, MeLive, AdminLive]))

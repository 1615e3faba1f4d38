// Case 5: fastify + @fastify/jwt (fast-jwt underneath), the public key given, `request.jwtVerify()` in an
// onRequest hook. fast-jwt's token cache is left at its default (off).
import fastifyJwt from "@fastify/jwt"
import Fastify from "fastify"
import { body, listen, settings } from "./common.mjs"

const { audience, issuer, publicKey } = settings()

const app = Fastify({ logger: false })
await app.register(fastifyJwt, {
  secret: { public: publicKey.export({ type: "spki", format: "pem" }) },
  verify: { algorithms: ["RS256"], allowedIss: issuer, allowedAud: audience }
})
app.addHook("onRequest", async (request, reply) => {
  try {
    await request.jwtVerify()
  } catch {
    return reply.code(401).header("www-authenticate", "Bearer").send({ error: "unauthorized" })
  }
})
app.get("/me", (request, reply) => {
  reply.type("application/json").send(body(request.user.sub))
})
await app.ready()
listen(app.server, () => app.close())

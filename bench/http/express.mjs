// Case 6: express + express-jwt (jsonwebtoken underneath), keys from the JWKS endpoint through jwks-rsa's
// `expressJwtSecret` with its key cache on.
import express from "express"
import { expressjwt } from "express-jwt"
import jwksRsa from "jwks-rsa"
import { createServer } from "node:http"
import { body, listen, settings } from "./common.mjs"

const { audience, issuer, jwksUrl } = settings()

const app = express()
app.disable("x-powered-by")
app.use(
  expressjwt({
    secret: jwksRsa.expressJwtSecret({ jwksUri: jwksUrl, cache: true, rateLimit: false }),
    algorithms: ["RS256"],
    issuer,
    audience
  })
)
app.get("/me", (request, response) => {
  response.type("application/json").send(body(request.auth.sub))
})
app.use((_error, _request, response, _next) => {
  response.status(401).set("www-authenticate", "Bearer").json({ error: "unauthorized" })
})
listen(createServer(app))

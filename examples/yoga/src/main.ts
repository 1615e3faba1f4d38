/**
 * `npm start`: starts the dev issuer (or uses AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE when set) and serves
 * GraphQL on HOST:PORT (default 127.0.0.1:4000).
 */
import * as Http from "node:http"
import * as App from "./App.js"
import * as Demo from "./Demo.js"

const host = process.env["HOST"] ?? "127.0.0.1"
const port = Number(process.env["PORT"] ?? "4000")
const configuredIssuer = process.env["AUTH_JWT_ISSUER"]

const dev = configuredIssuer === undefined ? await Demo.startIssuer() : undefined
const app = App.make({
  issuer: dev?.issuer.issuer ?? configuredIssuer!,
  audience: dev === undefined ? process.env["AUTH_JWT_AUDIENCE"] : Demo.audience
})
const server = Http.createServer(app.yoga)
server.listen(port, host, () => {
  const url = `http://${host}:${port}/graphql`
  console.log(dev === undefined ? `GraphQL: ${url}` : Demo.banner(dev, url))
})

const stop = () => {
  server.close()
  server.closeAllConnections()
  void app.dispose().finally(() => dev?.issuer.close())
}
process.once("SIGINT", stop)
process.once("SIGTERM", stop)

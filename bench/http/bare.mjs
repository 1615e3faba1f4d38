// Case 1, the ceiling: node:http answering without any verification.
import { createServer } from "node:http"
import { body, listen } from "./common.mjs"

const answer = body("anonymous")
listen(
  createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" }).end(answer)
  })
)

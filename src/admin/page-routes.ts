// The dashboard's pages (registered in ./routes.ts): `GET /` is the dashboard for a request with
// the token (bearer header or session cookie, see ./session.ts) and the login form (401) for one
// without; `POST /login` checks the form's token and sets the session cookie; `POST /logout` ends it.
// Without a configured token `/` is open and there is nothing to log in to.
import { Effect, Option, Result, Semaphore } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { dashboardPage } from "./dashboard-page.ts"
import { pageResponse } from "./html.ts"
import { loginPage } from "./login-page.ts"
import { readBody } from "./respond.ts"
import { clearedSessionCookie, maxLoginBodyBytes, parseLoginForm, sessionCookie, sessionCookieName, type Sessions } from "./session.ts"

/** Wrong tokens are answered one at a time, each after this long: guessing costs time, even in parallel. */
const wrongTokenDelay = "250 millis"

const toDashboard = (cookie: string) => HttpServerResponse.empty({ status: 303, headers: { location: "/", "set-cookie": cookie, "cache-control": "no-store" } })

/** `allowed`: whether the request carries the token (header or cookie). */
export const makePageRoutes = (sessions: Sessions, allowed: (request: HttpServerRequest.HttpServerRequest) => boolean) => Effect.gen(function*() {
  const login = (message: string, status: number) => pageResponse(loginPage(message), status)
  const refusing = yield* Semaphore.make(1)
  return {
    page: Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
      allowed(request) ? pageResponse(dashboardPage) : pageResponse(loginPage(), 401, { "www-authenticate": 'Bearer realm="jetscale"' })),

    login: Effect.gen(function*() {
      if (!sessions.required) return toDashboard(clearedSessionCookie)
      const text = yield* readBody(yield* HttpServerRequest.HttpServerRequest, maxLoginBodyBytes)
      if (text === undefined) return login(`token: the form is larger than ${maxLoginBodyBytes} bytes`, 413)
      const token = parseLoginForm(text)
      if (Result.isFailure(token)) return login(token.failure, 400)
      const session = sessions.login(token.success)
      if (session !== undefined) return toDashboard(sessionCookie(session))
      const from = Option.getOrUndefined((yield* HttpServerRequest.HttpServerRequest).remoteAddress)
      yield* Effect.logWarning(`dashboard login refused: wrong admin token${from === undefined ? "" : ` (from ${from})`}`)
      yield* refusing.withPermits(1)(Effect.sleep(wrongTokenDelay))
      return login("That is not the admin token.", 401)
    }),

    logout: Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      sessions.logout(request.cookies[sessionCookieName])
      return toDashboard(clearedSessionCookie)
    })
  }
})

"""Wire the console into the API's FastAPI app: its pages, its stylesheet, its headers and error pages."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console import faq_pages, handoff_pages, referral_pages, routes, simulator_pages, user_pages
from console.deps import AdminOnly, CsrfRefused, SignInRequired
from console.rendering import templates

PREFIX = "/console"
STATIC = Path(__file__).resolve().parent / "static"

# Scripts only from our own files (htmx, vendored; no inline script, no eval), nothing framed,
# nothing leaves by a form elsewhere.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class ConsoleHeaders:
    """Put the security headers on every response under /console: pages, redirects, errors, static files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().title() not in _TITLED]
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_TITLED = {name.title() for name in SECURITY_HEADERS}


ROUTERS = (routes.router, handoff_pages.router, referral_pages.router, faq_pages.router, user_pages.router,
           simulator_pages.router)  # fmt: skip


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_middleware(ConsoleHeaders)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> Response:
        # A request htmx made (a poll, a preview) would swap the sign-in page into a fragment of the page;
        # HX-Redirect makes htmx load the sign-in page as a whole instead.
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": f"{PREFIX}/sign-in"})
        return RedirectResponse(f"{PREFIX}/sign-in", status_code=303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> HTMLResponse:
        return templates.TemplateResponse(request, "forbidden.html", {"why": "csrf"}, status_code=403)

    @app.exception_handler(AdminOnly)
    async def _admin_only(request: Request, _exc: AdminOnly) -> HTMLResponse:
        return templates.TemplateResponse(request, "forbidden.html", {"why": "admin"}, status_code=403)

"""Render console pages: one Jinja2 environment, autoescaping everything, and what every signed-in page shows."""

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from console.deps import Staff
from relay.core.settings import get_settings
from relay.models import StaffRole

HERE = Path(__file__).resolve().parent
# Autoescape everything: patient names, messages and anything else from outside are always text, never markup.
templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
)


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page or fragment; signed-in pages pass `staff`, which fills the navigation (see signed_in)."""
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def signed_in(request: Request, staff: Staff, name: str, status_code: int = 200, *, section: str = "",
              **context: Any) -> HTMLResponse:  # fmt: skip
    """A page for a signed-in staff member: the navigation, their name, the sign-out form's token."""
    return page(
        request,
        name,
        status_code,
        staff=staff.user,
        csrf_token=staff.session.csrf_token,
        is_admin=staff.user.role == StaffRole.ADMIN,
        simulator=not get_settings().is_production,
        section=section,
        **context,
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)

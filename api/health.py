"""GET /health: is every part this process depends on answering? No patient data."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from relay.core.db import session_scope
from relay.core.redis_conn import get_redis
from relay.core.settings import get_settings
from relay.inbound import rasa_client

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    components: dict[str, str]


def _check_database() -> str:
    try:
        with session_scope() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "down", reported by type only
        return f"down ({type(exc).__name__})"
    return "ok"


def _check_redis() -> str:
    try:
        get_redis().ping()
    except Exception as exc:  # likewise
        return f"down ({type(exc).__name__})"
    return "ok"


def _check_rasa() -> str:
    down, replicas = rasa_client.replicas_down(), get_settings().rasa_replicas
    if not down:
        return "ok"
    if replicas == 1:
        return "down"
    which = f"replica {down[0]}" if len(down) == 1 else "replicas " + ", ".join(map(str, down))
    return f"down ({which} of {replicas}, counted from 0)"


def _check_all() -> dict[str, str]:
    return {"database": _check_database(), "redis": _check_redis(), "rasa": _check_rasa()}


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health() -> JSONResponse:
    components = await run_in_threadpool(_check_all)
    healthy = all(state == "ok" for state in components.values())
    body = Health(status="ok" if healthy else "degraded", components=components)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)

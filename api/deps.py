"""Dependencies shared by the JSON API routers."""

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from relay.core.db import session_scope
from relay.core.settings import get_settings

_bearer = HTTPBearer(auto_error=False, description="API_TOKEN")


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


def require_api_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected = get_settings().api_token.get_secret_value()
    if credentials is None or not secrets.compare_digest(credentials.credentials, expected):
        raise HTTPException(
            status_code=401, detail="a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )


# Commit before the answer goes out: FastAPI ends a yield dependency after the response by default, so a
# client could read before the commit (POST a patient, then its referral: "unknown patient"), and a
# failed commit would follow a 201. Scoped to the function, a failed commit is a 500 instead.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

"""Console tests drive the real app over https (the cookies are Secure) with the console's clock in hand."""

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from console.deps import console_now
from tests.console.support import Clock, make_account


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def console(fresh_demo, clock):
    app = create_app()
    app.dependency_overrides[console_now] = clock
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


@pytest.fixture
def account(fresh_demo, clock):
    return make_account(clock)

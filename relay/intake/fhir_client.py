"""An HTTP client for the EHR's FHIR R4 server: search pages, read, create and update resources.

Authentication is SMART Backend Services (the client-credentials grant with a
signed JWT assertion, https://hl7.org/fhir/smart-app-launch/backend-services.html)
or a static bearer token. Requests are retried with exponential back-off and
jitter on connection errors, 429 (after its Retry-After) and 5xx.

No PHI in the logs: they name the resource type, the search parameters (names,
never values: an identifier or a name could be one), status codes and counts.
"""

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from relay.core.settings import Settings

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The spec caps an assertion's lifetime at five minutes; a shorter one leaves less to replay.
ASSERTION_LIFETIME_SECONDS = 240
# A token is renewed this long before it expires, so a request never leaves with one about to lapse.
TOKEN_RENEWAL_MARGIN_SECONDS = 60
# A back-off never waits longer than this, nor a Retry-After (a server asking for an hour is refused sooner).
MAX_BACKOFF_SECONDS = 60.0
MAX_RETRY_AFTER_SECONDS = 300.0

Bundle = dict[str, Any]
Resource = dict[str, Any]


class FhirError(Exception):
    """A request the server refused, or that kept failing; the message carries no PHI."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class FhirConfigError(FhirError):
    """The FHIR_* settings can't work as given (a client id without a key, a key that is not one ...)."""


class Auth(Protocol):
    def headers(self, http: httpx.Client) -> dict[str, str]:
        """The Authorization header for the next request."""
        ...

    def invalidate(self) -> bool:
        """The server said 401: forget any cached token; whether a new one can be had."""
        ...


class NoAuth:
    """An open server (a test server, or one behind a network boundary)."""

    def headers(self, http: httpx.Client) -> dict[str, str]:
        return {}

    def invalidate(self) -> bool:
        return False


@dataclass
class BearerAuth:
    """A static bearer token: nothing to refresh, so a 401 stays a 401."""

    token: str

    def headers(self, http: httpx.Client) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def invalidate(self) -> bool:
        return False


class SmartBackendAuth:
    """SMART Backend Services: a token from the client-credentials grant, asserted with a signed JWT.

    The token is cached until shortly before it expires and fetched again after a 401.
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        private_key_pem: bytes,
        key_id: str,
        scope: str,
        token_url: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.key_id = key_id
        self.scope = scope
        self.token_url = token_url
        self._clock = clock
        self._key, self._algorithm = _signing_key(private_key_pem)
        self._token: str | None = None
        self._expires_at = 0.0

    def headers(self, http: httpx.Client) -> dict[str, str]:
        if self._token is None or self._clock() >= self._expires_at - TOKEN_RENEWAL_MARGIN_SECONDS:
            self._token, lifetime = self._fetch_token(http)
            self._expires_at = self._clock() + lifetime
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> bool:
        self._token = None
        return True

    def assertion(self, token_url: str) -> str:
        """The signed JWT that identifies this client to the token endpoint."""
        issued = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_url,
            "jti": uuid.uuid4().hex,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME_SECONDS,
        }
        return jwt.encode(claims, self._key, algorithm=self._algorithm, headers={"kid": self.key_id, "typ": "JWT"})

    def _fetch_token(self, http: httpx.Client) -> tuple[str, float]:
        token_url = self.token_url or self._discover_token_url(http)
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": self.assertion(token_url),
        }
        response = http.post(token_url, data=form, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise FhirError(f"token endpoint answered {response.status_code}", status=response.status_code)
        answer = response.json()
        log.info("fhir token issued, expires in %ss", answer.get("expires_in"))
        return answer["access_token"], float(answer.get("expires_in") or 300)

    def _discover_token_url(self, http: httpx.Client) -> str:
        response = http.get(f"{self.base_url}/.well-known/smart-configuration", headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise FhirError(f"smart-configuration answered {response.status_code}", status=response.status_code)
        self.token_url = response.json()["token_endpoint"]
        return self.token_url


def _signing_key(pem: bytes) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, str]:
    """The key and its algorithm: RS384 for RSA, ES384 for EC, the two that SMART servers must accept."""
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise FhirConfigError(f"FHIR_PRIVATE_KEY_FILE is not an unencrypted PEM private key ({exc})") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return key, "RS384"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key, "ES384"
    raise FhirConfigError("FHIR_PRIVATE_KEY_FILE must hold an RSA or an EC (P-384) private key")


def auth_from_settings(settings: Settings) -> Auth:
    """SMART Backend Services when FHIR_CLIENT_ID is set, else FHIR_BEARER_TOKEN, else none."""
    if settings.fhir_client_id:
        if not settings.fhir_private_key_file:
            raise FhirConfigError("FHIR_CLIENT_ID is set but FHIR_PRIVATE_KEY_FILE is not")
        try:
            pem = Path(settings.fhir_private_key_file).read_bytes()
        except OSError as exc:
            raise FhirConfigError(f"FHIR_PRIVATE_KEY_FILE {settings.fhir_private_key_file}: {exc.strerror}") from None
        return SmartBackendAuth(
            base_url=settings.fhir_base_url,
            client_id=settings.fhir_client_id,
            private_key_pem=pem,
            key_id=settings.fhir_key_id,
            scope=settings.fhir_scope,
            token_url=settings.fhir_token_url,
        )
    if token := settings.fhir_bearer_token.get_secret_value():
        return BearerAuth(token)
    return NoAuth()


class FhirClient:
    """One FHIR R4 server. Use as a context manager, or call close()."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth or NoAuth()
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self._sleep = sleep
        self._http = httpx.Client(timeout=timeout, headers={"Accept": FHIR_JSON})
        _hide_query_values_in_httpx_logs()

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> "FhirClient":
        options: dict[str, Any] = {
            "auth": auth_from_settings(settings),
            "timeout": settings.fhir_timeout_seconds,
            "max_attempts": settings.fhir_max_attempts,
            "backoff_base": settings.fhir_backoff_base_seconds,
        } | overrides
        return cls(settings.fhir_base_url, **options)

    def __enter__(self) -> "FhirClient":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- reading --------------------------------------------------------------

    def search(self, resource_type: str, params: Mapping[str, str]) -> Iterator[Bundle]:
        """Every page of a type search, following the `next` links; a page is fetched only when asked for."""
        page = self.search_page(resource_type, params)
        yield page
        while url := next_link(page):
            page = self.page(url)
            yield page

    def search_page(self, resource_type: str, params: Mapping[str, str]) -> Bundle:
        """The first page of a type search."""
        return self.request("GET", f"{self.base_url}/{resource_type}", params=dict(params))

    def page(self, url: str) -> Bundle:
        """The page a `next` link (perhaps a stored one) points at."""
        return self.request("GET", self._same_server(url))

    def read(self, resource_type: str, resource_id: str) -> Resource:
        return self.request("GET", f"{self.base_url}/{resource_type}/{resource_id}")

    # -- writing --------------------------------------------------------------

    def create(self, resource: Resource, *, if_none_exist: str | None = None) -> Resource:
        """POST a new resource; with `if_none_exist` (a search, e.g. `identifier=sys|value`) a conditional create.

        A conditional create is what makes retrying a POST safe: when the first
        attempt got through but its answer was lost, the retry finds it.
        """
        headers = {"Content-Type": FHIR_JSON}
        if if_none_exist:
            headers["If-None-Exist"] = if_none_exist
        return self.request("POST", f"{self.base_url}/{resource['resourceType']}", json=resource, headers=headers)

    def update(self, resource: Resource, *, if_match_version: str | None = None) -> Resource:
        """PUT the resource at its id; with `if_match_version` only if the server still has that version."""
        headers = {"Content-Type": FHIR_JSON}
        if if_match_version:
            headers["If-Match"] = f'W/"{if_match_version}"'
        url = f"{self.base_url}/{resource['resourceType']}/{resource['id']}"
        return self.request("PUT", url, json=resource, headers=headers)

    # -- the transport --------------------------------------------------------

    def request(self, method: str, url: str, **kwargs: Any) -> Resource:
        """One request with retries; the JSON body of a 2xx answer ({} if none), else FhirError."""
        response = self._send_with_retries(method, url, **kwargs)
        if response.is_success:
            return response.json() if response.content else {}
        raise FhirError(
            f"{method} {redacted(url, kwargs.get('params'))} answered {response.status_code}",
            status=response.status_code,
        )

    def _send_with_retries(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        refreshed = False
        attempt = 1
        while True:
            try:
                response = self._send(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.max_attempts:
                    raise FhirError(f"{method} {redacted(url)} failed: {type(exc).__name__}") from exc
                log.warning("fhir %s %s: %s, retrying", method, redacted(url), type(exc).__name__)
                self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            if response.status_code == 401 and not refreshed and self.auth.invalidate():
                # A token may be revoked or expire early: fetch a new one, once.
                refreshed = True
                continue
            if _retryable(response.status_code) and attempt < self.max_attempts:
                delay = _retry_after(response) if response.status_code == 429 else None
                log.warning("fhir %s %s answered %s, retrying", method, redacted(url), response.status_code)
                self._sleep(delay if delay is not None else self._backoff(attempt))
                attempt += 1
                continue
            log.debug("fhir %s %s answered %s", method, redacted(url, kwargs.get("params")), response.status_code)
            return response

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {}) | self.auth.headers(self._http)
        return self._http.request(method, url, headers=headers, **kwargs)

    def _backoff(self, attempt: int) -> float:
        """Exponential, with "equal jitter": half the delay fixed, half random, so clients that failed together
        don't come back together."""
        delay = min(MAX_BACKOFF_SECONDS, self.backoff_base * 2 ** (attempt - 1))
        return delay / 2 + random.uniform(0, delay / 2)

    def _same_server(self, url: str) -> str:
        """A `next` link resolved against the base, refused when it points elsewhere: the token goes with it."""
        absolute = urljoin(self.base_url + "/", url)
        if _origin(absolute) != _origin(self.base_url):
            raise FhirError(f"refusing a next link to another server: {_origin(absolute)}")
        return absolute


class _QueryValuesHidden(logging.Filter):
    """httpx logs every request's URL at INFO, query included; a FHIR search can carry an identifier."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _without_query_values(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def _hide_query_values_in_httpx_logs() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(existing, _QueryValuesHidden) for existing in httpx_log.filters):
        httpx_log.addFilter(_QueryValuesHidden())


def _without_query_values(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode()}{redacted(str(url))}"


def next_link(bundle: Bundle) -> str | None:
    """The Bundle's `next` link, if there is another page."""
    for link in bundle.get("link") or []:
        if link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def redacted(url: str, params: Mapping[str, str] | None = None) -> str:
    """The URL for a log line: the path, and the names of the query parameters without their values."""
    parts = urlsplit(url)
    names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)] + list(params or {})
    return parts.path + ("?" + "&".join(f"{name}=..." for name in names) if names else "")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds, given as seconds or as an HTTP date; None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)

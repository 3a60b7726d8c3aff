"""A local fake of an EHR's FHIR R4 API, as a real HTTP server on loopback.

fhirsnake (a minimal FHIR server for resources kept as files) was the
candidate off the shelf, but 1.1.0 has no `_lastUpdated`, `_count`, paging,
`_include`, `meta`, conditional create or authentication, which is what a sync
needs, so this fake does the part of the FHIR RESTful API Relay uses:

- GET  {base}/{type}?_lastUpdated=gt...&_count=&_sort=_lastUpdated&_include=Slot:schedule&identifier=sys|value
  -> a searchset Bundle; the matches are kept (HAPI does the same) and the
  `next` link reads them page by page: GET {base}?_getpages=<id>&_getpagesoffset=<n>&_count=<n>.
- GET  {base}/{type}/{id} -> the resource, ETag W/"<versionId>".
- POST {base}/{type} (If-None-Exist: a conditional create) -> 201, or 200 with the match.
- PUT  {base}/{type}/{id} (If-Match: W/"<versionId>" -> 412 when stale) -> 200/201.
- GET  {base}/.well-known/smart-configuration and POST /auth/token: SMART Backend
  Services; the client's JWT assertion is verified against its public key
  (signature, kid, iss = sub = client id, aud = the token URL, a fresh jti,
  a lifetime of at most five minutes) before a token is issued.

Every stored resource gets meta.versionId and meta.lastUpdated from the fake's
clock (tests move it). Every request is recorded with the status it got;
`fail_next` makes the next requests fail with 500, 429 (and Retry-After), ...;
`lose_next_answers` serves a request but answers 503, as when the reply is
lost on the way; `after_request` lets a test act while the client waits.
"""

import copy
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode

import jwt

HOST = "127.0.0.1"
FHIR_PATH = "/fhir"
TOKEN_PATH = "/auth/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SEARCH_CONTROLS = {"_lastUpdated", "_count", "_sort", "_include", "_revinclude", "identifier", "code"}
# The _include and _revinclude parameters the fake knows: `Type:element`, the element holding the reference(s).
INCLUDES = {"Slot:schedule", "Coverage:payor", "ServiceRequest:requester", "Task:focus",
            "PractitionerRole:practitioner"}  # fmt: skip
REVINCLUDES = {"PractitionerRole:practitioner"}

Resource = dict[str, Any]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any  # the JSON body, the form as a dict, or None
    answered: int

    @property
    def url_query(self) -> str:
        return urlencode([(name, value) for name, values in self.query.items() for value in values])


@dataclass
class _Failure:
    remaining: int
    status: int
    retry_after: str | None
    method: str | None


@dataclass
class _Paging:
    """A search's matches, kept so the pages of one search stay one list."""

    resource_type: str
    keys: list[tuple[str, str]]
    includes: list[str]
    revincludes: list[str]


@dataclass
class SmartClient:
    """The client the token endpoint knows: its id, the `kid` and the public key of its JWKS entry."""

    client_id: str
    key_id: str
    public_key: Any  # a cryptography public key


@dataclass
class FakeFhir:
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    smart_client: SmartClient | None = None  # set: API requests need a token from /auth/token
    bearer_token: str | None = None  # set: API requests need this static token
    token_lifetime_seconds: int = 300
    supports_sort: bool = True  # False: `_sort` is refused with 400, as a strict server does
    max_page_size: int = 100
    requests: list[RecordedRequest] = field(default_factory=list)
    accepted_assertions: list[dict[str, Any]] = field(default_factory=list)  # header and claims of each
    # Called with (method, path, status) once an API request is served, before the answer leaves: lets a
    # test act while the client still waits (a change made in Relay "during" a write-back).
    after_request: Callable[[str, str, int], None] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._store: dict[tuple[str, str], Resource] = {}
        self._order: dict[tuple[str, str], int] = {}  # ties of lastUpdated sort in the order of writing
        self._writes = itertools.count(1)
        self._ids = itertools.count(1)
        self._pagings: dict[str, _Paging] = {}
        self._tokens: dict[str, float] = {}  # token -> expiry (time.time())
        self._seen_jtis: set[str] = set()
        self._failures: list[_Failure] = []
        self._lost_answers: list[_Failure] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control --------------------------------------------------------------

    def start(self) -> "FakeFhir":
        self._server = ThreadingHTTPServer((HOST, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-fhir", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake FHIR server is not running: call start() first")
        return f"http://{HOST}:{self._server.server_port}"

    @property
    def base_url(self) -> str:
        return self.origin + FHIR_PATH

    @property
    def token_url(self) -> str:
        return self.origin + TOKEN_PATH

    def put(self, resource: Resource) -> Resource:
        """Store a resource as the EHR would on a change (a new version, lastUpdated now); a copy of it."""
        with self._lock:
            return copy.deepcopy(self._write(copy.deepcopy(resource)))

    def get(self, resource_type: str, resource_id: str) -> Resource | None:
        with self._lock:
            found = self._store.get((resource_type, resource_id))
            return copy.deepcopy(found) if found else None

    def all(self, resource_type: str) -> list[Resource]:
        with self._lock:
            return [copy.deepcopy(r) for (kind, _), r in self._store.items() if kind == resource_type]

    def fail_next(
        self, count: int = 1, *, status: int = 500, retry_after: str | None = None, method: str | None = None
    ) -> None:
        """Answer the next `count` API requests (of `method`, if given) with this status instead."""
        with self._lock:
            self._failures.append(_Failure(count, status, retry_after, method))

    def lose_next_answers(self, count: int = 1, *, method: str | None = None) -> None:
        """Serve the next `count` API requests (of `method`) but answer 503, as when a reply is lost on the way."""
        with self._lock:
            self._lost_answers.append(_Failure(count, 503, None, method))

    def expire_searches(self) -> None:
        """Forget every search's matches, as a server does after a while: their `next` links answer 410."""
        with self._lock:
            self._pagings.clear()

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def api_requests(self, method: str | None = None, resource_type: str | None = None) -> list[RecordedRequest]:
        """The requests to the FHIR API (not the token endpoint), optionally of one method and type."""
        with self._lock:
            found = [r for r in self.requests if r.path.startswith(FHIR_PATH)]
        if method:
            found = [r for r in found if r.method == method]
        if resource_type:
            found = [r for r in found if r.path.removeprefix(FHIR_PATH + "/").split("/")[0] == resource_type]
        return found

    # -- dispatch -------------------------------------------------------------

    def _answer(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any):
        try:
            status, payload, extra = self._route(method, path, query, headers, body)
        except ValueError as exc:  # a malformed search value: the client's error, as a server would say
            status, payload, extra = 400, _outcome("invalid", str(exc)), {}
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, headers, body, status))
        return status, payload, extra

    def _route(self, method, path, query, headers, body) -> tuple[int, Any, dict[str, str]]:
        if path == TOKEN_PATH and method == "POST":
            return self._issue_token(body or {})
        if not path.startswith(FHIR_PATH):
            return 404, _outcome("not-found", "no such endpoint"), {}
        rest = path.removeprefix(FHIR_PATH).strip("/")
        if rest == ".well-known/smart-configuration" and method == "GET":
            return 200, self._smart_configuration(), {}
        if not self._authorized(headers.get("authorization", "")):
            return 401, _outcome("login", "a valid bearer token is required"), {}
        if failure := self._take_failure(method, self._failures):
            extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            return failure.status, _outcome("transient", "injected failure"), extra
        with self._lock:
            served = self._serve_api(method, rest, query, headers, body)
        if self.after_request is not None:
            self.after_request(method, path, served[0])
        if self._take_failure(method, self._lost_answers):
            return 503, _outcome("transient", "the answer was lost (the request was served)"), {}
        return served

    def _serve_api(self, method, rest, query, headers, body) -> tuple[int, Any, dict[str, str]]:
        parts = rest.split("/") if rest else []
        if method == "GET" and not parts and "_getpages" in query:
            return self._page(query)
        if method == "GET" and len(parts) == 1:
            return self._search(parts[0], query)
        if method == "GET" and len(parts) == 2:
            return self._read(*parts)
        if method == "POST" and len(parts) == 1:
            return self._create(parts[0], body, headers.get("if-none-exist"))
        if method == "PUT" and len(parts) == 2:
            return self._update(parts[0], parts[1], body, headers.get("if-match"))
        return 404, _outcome("not-supported", "not supported by the fake"), {}

    def _take_failure(self, method: str, failures: list[_Failure]) -> _Failure | None:
        with self._lock:
            for failure in failures:
                if failure.method in (None, method):
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        failures.remove(failure)
                    return failure
            return None

    # -- auth -----------------------------------------------------------------

    def _authorized(self, authorization: str) -> bool:
        if self.smart_client is None and self.bearer_token is None:
            return True
        token = authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else ""
        if self.bearer_token is not None and token == self.bearer_token:
            return True
        with self._lock:
            return self._tokens.get(token, 0.0) > time.time()

    def _smart_configuration(self) -> dict[str, Any]:
        return {
            "token_endpoint": self.token_url,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "grant_types_supported": ["client_credentials"],
            "capabilities": ["client-confidential-asymmetric"],
        }

    def _issue_token(self, form: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if self.smart_client is None:
            return 400, {"error": "unsupported_grant_type"}, {}
        if form.get("grant_type") != "client_credentials" or form.get("client_assertion_type") != JWT_BEARER:
            return 400, {"error": "invalid_request"}, {}
        if not form.get("scope"):
            return 400, {"error": "invalid_scope"}, {}
        try:
            header, claims = self._verified_assertion(form.get("client_assertion", ""))
        except (jwt.InvalidTokenError, ValueError) as exc:
            return 401, {"error": "invalid_client", "error_description": str(exc)}, {}
        token = uuid.uuid4().hex
        with self._lock:
            self._seen_jtis.add(claims["jti"])
            self._tokens[token] = time.time() + self.token_lifetime_seconds
            self.accepted_assertions.append({"header": header, "claims": claims})
        return (
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_lifetime_seconds,
                "scope": form["scope"],
            },
            {},
        )

    def _verified_assertion(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        client = self.smart_client
        assert client is not None
        header = jwt.get_unverified_header(assertion)
        if header.get("kid") != client.key_id:
            raise ValueError("unknown kid")
        claims = jwt.decode(
            assertion,
            client.public_key,
            algorithms=["RS384", "ES384"],
            audience=self.token_url,
            issuer=client.client_id,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
        if claims["sub"] != client.client_id:
            raise ValueError("sub is not the client id")
        if claims["exp"] - time.time() > 300:
            raise ValueError("an assertion may live five minutes at most")
        with self._lock:
            if claims["jti"] in self._seen_jtis:
                raise ValueError("jti replayed")
        return header, claims

    # -- the resources --------------------------------------------------------

    def _write(self, resource: Resource, *, version: int | None = None) -> Resource:
        kind = resource["resourceType"]
        resource.setdefault("id", f"srv-{next(self._ids)}")
        key = (kind, resource["id"])
        previous = self._store.get(key)
        number = version or (int(previous["meta"]["versionId"]) + 1 if previous else 1)
        resource["meta"] = dict(resource.get("meta") or {}) | {
            "versionId": str(number),
            "lastUpdated": _instant(self.clock()),
        }
        self._store[key] = resource
        self._order[key] = next(self._writes)
        return resource

    def _read(self, kind: str, resource_id: str) -> tuple[int, Any, dict[str, str]]:
        found = self._store.get((kind, resource_id))
        if found is None:
            return 404, _outcome("not-found", f"{kind}/{resource_id} is not known"), {}
        return 200, copy.deepcopy(found), {"ETag": f'W/"{found["meta"]["versionId"]}"'}

    def _create(self, kind: str, body: Any, if_none_exist: str | None) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or body.get("resourceType") != kind:
            return 400, _outcome("invalid", "the body is not a resource of this type"), {}
        if if_none_exist:
            matches = self._matching(kind, {k: [v] for k, v in parse_qsl(if_none_exist)})
            if len(matches) > 1:
                return 412, _outcome("duplicate", "the condition matches several resources"), {}
            if matches:
                return 200, copy.deepcopy(self._store[matches[0]]), {}
        resource = copy.deepcopy(body)
        resource.pop("id", None)  # the server assigns ids on create
        stored = self._write(resource)
        location = f"{self.base_url}/{kind}/{stored['id']}/_history/1"
        return 201, copy.deepcopy(stored), {"Location": location, "ETag": 'W/"1"'}

    def _update(self, kind: str, resource_id: str, body: Any, if_match: str | None) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or body.get("resourceType") != kind or body.get("id") != resource_id:
            return 400, _outcome("invalid", "the body is not this resource"), {}
        current = self._store.get((kind, resource_id))
        if if_match and (current is None or if_match != f'W/"{current["meta"]["versionId"]}"'):
            return 412, _outcome("conflict", "the resource changed since that version"), {}
        stored = self._write(copy.deepcopy(body))
        return (200 if current else 201), copy.deepcopy(stored), {"ETag": f'W/"{stored["meta"]["versionId"]}"'}

    # -- search ---------------------------------------------------------------

    def _search(self, kind: str, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        unknown = set(query) - SEARCH_CONTROLS
        if unknown:
            return 400, _outcome("not-supported", f"unknown search parameters: {sorted(unknown)}"), {}
        if "_sort" in query and (not self.supports_sort or query["_sort"] != ["_lastUpdated"]):
            return 400, _outcome("not-supported", "_sort is not supported"), {}
        includes, revincludes = query.get("_include", []), query.get("_revinclude", [])
        if any(not (i in INCLUDES and i.startswith(kind + ":")) for i in includes) or set(revincludes) - REVINCLUDES:
            return 400, _outcome("not-supported", f"unsupported _include {includes} or _revinclude {revincludes}"), {}
        keys = self._matching(kind, query)
        if "_sort" in query:
            keys.sort(key=lambda key: (self._store[key]["meta"]["lastUpdated"], self._order[key]))
        paging_id = uuid.uuid4().hex
        self._pagings[paging_id] = _Paging(kind, keys, includes, revincludes)
        count = int(query.get("_count", ["20"])[0])
        return self._page({"_getpages": [paging_id], "_getpagesoffset": ["0"], "_count": [str(count)]})

    def _matching(self, kind: str, query: dict[str, list[str]]) -> list[tuple[str, str]]:
        keys = [key for key in self._store if key[0] == kind]
        for value in query.get("_lastUpdated", []):
            keys = [key for key in keys if _compare(self._store[key]["meta"]["lastUpdated"], value)]
        for value in query.get("code", []):
            keys = [
                key
                for key in keys
                if any(c.get("code") == value for c in (self._store[key].get("code") or {}).get("coding", []))
            ]
        for value in query.get("identifier", []):
            system, _, code = value.rpartition("|")
            keys = [
                key
                for key in keys
                if any(
                    (i.get("system") or "") == system and i.get("value") == code
                    for i in self._store[key].get("identifier", [])
                )
            ]
        return keys

    def _page(self, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        paging = self._pagings.get(query["_getpages"][0])
        if paging is None:
            return 410, _outcome("expired", "the search is no longer available"), {}
        offset = int(query["_getpagesoffset"][0])
        count = min(int(query.get("_count", ["20"])[0]), self.max_page_size)
        keys = [key for key in paging.keys[offset : offset + count] if key in self._store]
        entries = [self._entry(self._store[key], "match") for key in keys]
        entries += [self._entry(found, "include") for found in self._included(keys, paging)]
        links = [{"relation": "self", "url": self._paging_url(query["_getpages"][0], offset, count)}]
        if offset + count < len(paging.keys):
            links.append({"relation": "next", "url": self._paging_url(query["_getpages"][0], offset + count, count)})
        bundle = {
            "resourceType": "Bundle",
            "id": uuid.uuid4().hex,
            "meta": {"lastUpdated": _instant(self.clock())},
            "type": "searchset",
            "total": len(paging.keys),
            "link": links,
            "entry": entries,
        }
        return 200, bundle, {}

    def _included(self, keys: list[tuple[str, str]], paging: _Paging) -> list[Resource]:
        """What the page's _include and _revinclude bring, each resource once, none that is a match already."""
        wanted: dict[tuple[str, str], None] = {}
        for include in paging.includes:
            element = include.split(":")[1]
            for key in keys:
                for reference in _references(self._store[key].get(element)):
                    kind, _, resource_id = reference.partition("/")
                    wanted[(kind, resource_id)] = None
        for revinclude in paging.revincludes:
            kind, element = revinclude.split(":")
            targets = {f"{key[0]}/{key[1]}" for key in keys}
            for key, resource in self._store.items():
                if key[0] == kind and targets & set(_references(resource.get(element))):
                    wanted[key] = None
        return [self._store[key] for key in wanted if key in self._store and key not in keys]

    def _paging_url(self, paging_id: str, offset: int, count: int) -> str:
        return f"{self.base_url}?" + urlencode(
            {"_getpages": paging_id, "_getpagesoffset": offset, "_count": count, "_bundletype": "searchset"}
        )

    def _entry(self, resource: Resource, mode: str) -> dict[str, Any]:
        return {
            "fullUrl": f"{self.base_url}/{resource['resourceType']}/{resource['id']}",
            "resource": copy.deepcopy(resource),
            "search": {"mode": mode},
        }


def _references(value: Any) -> list[str]:
    """The literal references in an element holding one Reference or a list of them."""
    items = value if isinstance(value, list) else [value] if value else []
    return [item["reference"] for item in items if isinstance(item, dict) and item.get("reference")]


def _instant(moment: datetime) -> str:
    """A FHIR instant, UTC, milliseconds."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _compare(last_updated: str, condition: str) -> bool:
    prefix, value = (
        (condition[:2], condition[2:]) if condition[:2] in ("gt", "ge", "lt", "le", "eq") else ("eq", condition)
    )
    stored, bound = datetime.fromisoformat(last_updated), datetime.fromisoformat(value)
    if bound.tzinfo is None:
        raise ValueError("a _lastUpdated bound needs a time zone here")
    return {
        "gt": stored > bound,
        "ge": stored >= bound,
        "lt": stored < bound,
        "le": stored <= bound,
        "eq": stored == bound,
    }[prefix]


def _outcome(code: str, text: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


def _handler_for(fake: FakeFhir) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # see tests/fake_twilio.py: keeps keep-alive requests fast

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            headers = {k.lower(): v for k, v in self.headers.items()}
            body: Any = None
            if raw and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                body = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            elif raw:
                body = json.loads(raw)
            path, _, query_string = self.path.partition("?")
            query = parse_qs(query_string, keep_blank_values=True)
            status, payload, extra = fake._answer(method, path, query, headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header(
                "Content-Type", "application/fhir+json" if path.startswith(FHIR_PATH) else "application/json"
            )
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the recorded requests say what happened; stderr stays quiet

    return Handler

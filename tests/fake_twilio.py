"""A local fake of Twilio's REST API (2010-04-01 Messages), as a real HTTP server.

The app talks to it through the official twilio client (TWILIO_API_BASE_URL),
so what is tested is what the library really sends: form fields, Basic auth,
URLs. Fields and error shapes follow Twilio's OpenAPI description
(/work/shared/twilio/twilio_api_v2010.json):

- POST /2010-04-01/Accounts/{AccountSid}/Messages.json  (To; From or
  MessagingServiceSid; Body, MediaUrl or ContentSid; StatusCallback ...)
  -> 201 with the message resource (sid SM + 32 hex, status "queued").
- GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json -> 200 or 404.
- GET  /2010-04-01/Accounts/{AccountSid}/Messages.json?To=&From=&PageSize=
  -> the list, newest first, one page (ListMessageResponse).

Every request is recorded (also refused ones), with the monotonic time it
arrived (`at`), so tests can check the rate the API saw. Wrong credentials get
401 (code 20003); `fail_next` makes the next requests fail with a chosen HTTP
status and Twilio error code (429/20429, 400/21211, 400/21610, 500/20500, ...).
"""

import base64
import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

API_VERSION = "2010-04-01"
HOST = "127.0.0.1"
_CREATE = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")
_FETCH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

# Default messages for the error codes tests ask for.
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21603: "The 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21617: "The concatenated message body exceeds the 1600 character limit.",
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]  # first value of each field (Twilio's fields are single-valued here)
    auth: tuple[str, str] | None  # the Basic credentials as sent
    answered: int  # the HTTP status the fake answered with
    at: float = 0.0  # time.monotonic() when the request arrived
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class _Failure:
    remaining: int
    status: int
    code: int | None
    message: str


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    requests: list[RecordedRequest] = field(default_factory=list)
    messages: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control --------------------------------------------------------------

    def start(self) -> "FakeTwilio":
        self._server = ThreadingHTTPServer((HOST, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True
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
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Twilio is not running: call start() first")
        return f"http://{HOST}:{self._server.server_port}"

    def fail_next(
        self, count: int = 1, *, status: int = 500, code: int | None = None, message: str | None = None
    ) -> None:
        """Answer the next `count` authenticated requests with this error instead."""
        code = code if code is not None else (20429 if status == 429 else 20500 if status >= 500 else None)
        default = ERROR_MESSAGES.get(code, "Error") if code is not None else "Error"
        with self._lock:
            self._failures.append(_Failure(count, status, code, message or default))

    def set_status(self, sid: str, status: str) -> None:
        with self._lock:
            now = _rfc2822(datetime.now(UTC))
            self.messages[sid]["status"] = status
            self.messages[sid]["date_updated"] = now
            if status in ("sent", "delivered", "undelivered") and not self.messages[sid]["date_sent"]:
                self.messages[sid]["date_sent"] = now

    @property
    def sent(self) -> list[dict]:
        """The messages Twilio accepted, oldest first."""
        with self._lock:
            return list(self.messages.values())

    def created_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and _CREATE.match(r.path)]

    # -- the API --------------------------------------------------------------

    def _answer(
        self, method: str, path: str, headers: dict[str, str], form: dict[str, str], query: dict[str, str] | None = None
    ) -> tuple[int, dict]:
        arrived = time.monotonic()
        query = query or {}
        auth = _basic_auth(headers.get("authorization", ""))
        create, fetch = _CREATE.match(path), _FETCH.match(path)
        listing = create if method == "GET" else None
        route = create if method == "POST" else (fetch or listing) if method == "GET" else None
        if route is None:
            status, payload = 404, _error(404, 20404, ERROR_MESSAGES[20404])
        elif auth != (self.account_sid, self.auth_token) or route["account"] != self.account_sid:
            status, payload = 401, _error(401, 20003, ERROR_MESSAGES[20003])
        elif failure := self._take_failure():
            status, payload = failure.status, _error(failure.status, failure.code, failure.message)
        elif method == "POST":
            status, payload = self._create(form)
        elif fetch is not None:  # a GET of one message; else a GET of the list (`listing`)
            status, payload = self._fetch(fetch["sid"])
        else:
            status, payload = self._list(path, query)
        with self._lock:
            self.requests.append(RecordedRequest(method, path, headers, form, auth, status, arrived, query))
        return status, payload

    def _take_failure(self) -> _Failure | None:
        with self._lock:
            if not self._failures:
                return None
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.pop(0)
            return failure

    def _create(self, form: dict[str, str]) -> tuple[int, dict]:
        to, from_ = form.get("To"), form.get("From")
        body = form.get("Body")
        if not to:
            return 400, _error(400, 21604, ERROR_MESSAGES[21604])
        if not _E164.match(to):
            return 400, _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not from_ and not form.get("MessagingServiceSid"):
            return 400, _error(400, 21603, ERROR_MESSAGES[21603])
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return 400, _error(400, 21602, ERROR_MESSAGES[21602])
        if body and len(body) > 1600:
            return 400, _error(400, 21617, ERROR_MESSAGES[21617])
        sid = "SM" + uuid.uuid4().hex
        now = _rfc2822(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        message = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body or "",
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1" if len(body or "") <= 160 else str(math.ceil(len(body or "") / 153)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": to,
            "uri": uri,
        }
        with self._lock:
            self.messages[sid] = message
        return 201, message

    def _fetch(self, sid: str) -> tuple[int, dict]:
        with self._lock:
            message = self.messages.get(sid)
        if message is None:
            return 404, _error(404, 20404, ERROR_MESSAGES[20404])
        return 200, dict(message)

    def _list(self, path: str, query: dict[str, str]) -> tuple[int, dict]:
        """Filtered by To and From (what the app asks); newest first; one page."""
        page_size = int(query.get("PageSize") or 50)
        with self._lock:
            found = [
                dict(m)
                for m in reversed(self.messages.values())
                if query.get("To") in (None, m["to"]) and query.get("From") in (None, m["from"])
            ][:page_size]
        return 200, {
            "messages": found,
            "end": max(len(found) - 1, 0),
            "first_page_uri": path,
            "next_page_uri": None,
            "page": 0,
            "page_size": page_size,
            "previous_page_uri": None,
            "start": 0,
            "uri": path,
        }


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The headers and the body go out in two writes; with Nagle's algorithm on,
        # the second waits for the client's delayed ACK of the first (40 ms on
        # Linux), which capped a keep-alive client at about 25 requests/s.
        disable_nagle_algorithm = True

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            path, _, query_string = self.path.partition("?")
            query = {k: v[0] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = fake._answer(method, path, headers, form, query)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self._serve("POST")

        def do_GET(self) -> None:
            self._serve("GET")

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: requests are recorded instead

    return Handler


def _basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def _error(status: int, code: int | None, message: str) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}" if code else None,
        "status": status,
    }


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment)  # "Thu, 24 Aug 2023 05:01:45 +0000", as in the OpenAPI examples

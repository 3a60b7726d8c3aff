"""A fake of Rasa's HTTP API as far as the console and /health use it (GET /conversations/{sender}/tracker,
GET /status) and as far as the webhooks' own logic needs it (POST /webhooks/{channel}/webhook: every request
kept, answered after a chosen delay with what the test says, "you said: ..." by default), and the `fake_rasa`
fixture pointing the app at it. Rasa itself is the real one wherever a test claims the bot works."""

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from relay.core.settings import get_settings

Answer = Callable[[dict], list[dict]]


def you_said(body: dict) -> list[dict]:
    return [{"recipient_id": body.get("sender", ""), "text": f"you said: {body.get('message', '')}"}]


class FakeRasa:
    """Rasa's HTTP API: GET /status, GET /conversations/{sender}/tracker, POST /webhooks/{channel}/webhook."""

    def __init__(self, port: int = 0) -> None:
        """On `port`, or a free one (0). Replicas listen on consecutive ports, so a test may choose."""
        self.trackers: dict[str, dict] = {}
        self.asked: list[str] = []
        # Messages: every request (path and JSON body); seconds to wait before answering, by text;
        # one-off answers, first in first out; then `answer` for the rest.
        self.received: list[dict] = []
        self.delays: dict[str, float] = {}
        self.replies: list[Answer] = []
        self.answer: Answer = you_said
        # What GET /status names as the loaded model; "" as while Rasa is still loading one.
        self.model_file = "models/fake.tar.gz"
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.asked.append(self.path)
                if self.path == "/status":
                    payload = json.dumps({"model_file": fake.model_file}).encode()
                else:
                    match = re.fullmatch(r"/conversations/([^/?]+)/tracker(\?.*)?", self.path)
                    tracker = fake.trackers.get(match.group(1)) if match else None
                    if tracker is None:
                        tracker = {"sender_id": match.group(1) if match else "", "slots": {}, "events": []}
                    payload = json.dumps(tracker).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.received.append({"path": self.path, **body})
                time.sleep(fake.delays.get(body.get("message", ""), 0.0))
                answer = fake.replies.pop(0) if fake.replies else fake.answer
                payload = json.dumps(answer(body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def messages(self) -> list[str]:
        return [request.get("message", "") for request in self.received]

    @property
    def metadata(self) -> list[dict]:
        return [request.get("metadata") or {} for request in self.received]

    @property
    def port(self) -> int:
        return self.server.server_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_rasa(monkeypatch) -> Iterator[FakeRasa]:
    fake = FakeRasa()
    monkeypatch.setenv("RASA_URL", fake.url)
    get_settings.cache_clear()
    yield fake
    fake.stop()
    get_settings.cache_clear()

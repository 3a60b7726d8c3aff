"""A fake of Rasa's HTTP API as far as the console uses it (GET /conversations/{sender}/tracker) and as far as
the webhooks' timing needs it (POST /webhooks/{channel}/webhook, answering "you said: ..." after a chosen
delay), and the `fake_rasa` fixture pointing the app at it. Rasa itself is the real one wherever a test
claims the bot works."""

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from relay.core.settings import get_settings


class FakeRasa:
    """Rasa's HTTP API as far as the console uses it: GET /conversations/{sender}/tracker."""

    def __init__(self) -> None:
        self.trackers: dict[str, dict] = {}
        self.asked: list[str] = []
        # Seconds to wait before answering a message, by its text (0 for others).
        self.delays: dict[str, float] = {}
        self.heard: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.asked.append(self.path)
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
                message = json.loads(self.rfile.read(length) or b"{}").get("message", "")
                fake.heard.append(message)
                time.sleep(fake.delays.get(message, 0.0))
                payload = json.dumps([{"recipient_id": "x", "text": f"you said: {message}"}]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

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

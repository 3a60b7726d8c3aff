"""The real bot for conversation tests: the trained model on a Rasa server plus the action server.

Both run as the stack runs them (`relay serve rasa`, `relay serve actions`),
against the test database and Redis. Conversations go through the real
webhook in-process, so every part between Twilio and the patient is real.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from relay.core.settings import PROJECT_ROOT, get_settings
from tests.conftest import _TMP
from tests.support import wait_until

REASONS = (
    "Chest pain on exertion; evaluate for stable angina.",
    "Changing mole on left shoulder.",
    "Persistent right knee pain after fall; rule out meniscus tear.",
    "MRI lumbar spine for radiating low back pain.",
    "Second opinion on thyroid nodule management.",
    "Follow-up after hospitalization for heart failure exacerbation.",
    "Uncontrolled type 2 diabetes, A1c 9.8.",
    "Anxiety and insomnia; evaluation for therapy.",
    "Palpitations; Holter monitor review.",
    "Eczema flare not responding to OTC treatment.",
    "Newly diagnosed hypothyroidism.",
    "Syncope with abnormal ECG; same-day cardiology evaluation.",
)
# Words from the reasons that would give them away even when paraphrased.
REASON_WORDS = (
    "angina", "mole", "meniscus", "lumbar", "thyroid", "heart failure", "diabetes", "a1c",
    "anxiety", "insomnia", "palpitations", "holter", "eczema", "hypothyroidism", "syncope",
)  # fmt: skip


def _start(process: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "relay.ops.cli", "serve", process],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _rasa_ready() -> bool:
    try:
        return bool(httpx.get(f"{get_settings().rasa_url}/status", timeout=2).json().get("model_file"))
    except (httpx.HTTPError, ValueError):
        return False


def start_rasa_and_wait(processes: dict) -> None:
    processes["rasa"] = _start("rasa", _TMP / "rasa.log")
    try:
        wait_until(_rasa_ready, 180, "Rasa server")
    except TimeoutError:
        sys.stderr.write((_TMP / "rasa.log").read_text(errors="replace")[-4000:])
        raise


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def rasa_stack(database):
    if not list((PROJECT_ROOT / "models").glob("relay-*.tar.gz")):
        pytest.fail("no trained Rasa model in models/: run `make train` (make test does)")
    logs = {name: _TMP / f"{name}.log" for name in ("actions", "rasa")}
    processes = {name: _start(name, log) for name, log in logs.items()}
    try:
        action_port = get_settings().action_server_port
        wait_until(lambda: _answers(f"http://127.0.0.1:{action_port}/health"), 180, "action server")
        wait_until(_rasa_ready, 180, "Rasa server")
    except TimeoutError:
        for name, log in logs.items():
            sys.stderr.write(f"--- {name} log ---\n{log.read_text(errors='replace')[-4000:]}\n")
        raise
    yield processes
    for process in processes.values():
        stop(process)


class Texter:
    """One phone texting the clinic through the signed webhook; keeps every reply."""

    def __init__(self, client, phone: str) -> None:
        self.client, self.phone, self.replies = client, phone, []

    def send(self, body: str) -> str:
        from tests.webhooks.twilio_helpers import post_sms, twiml_messages

        response = post_sms(self.client, from_phone=self.phone, body=body, sid="SM" + uuid.uuid4().hex)
        assert response.status_code == 200, response.text
        reply = "\n".join(twiml_messages(response))
        self.replies.append(reply)
        assert_private(reply)
        return reply


def assert_private(reply: str) -> None:
    """No referral reason, and an SMS that stays cheap: GSM-7, two segments unless listing slots."""
    from relay.language.gsm import is_gsm7, segments

    assert is_gsm7(reply), f"reply leaves the GSM-7 alphabet: {reply!r}"
    assert segments(reply) <= 2 or "1) " in reply, f"reply takes {segments(reply)} segments: {reply!r}"
    lowered = reply.lower()
    for reason in REASONS:
        assert reason.lower() not in lowered
    for word in REASON_WORDS:
        assert word not in lowered, f"reply gives away a referral reason ({word!r}): {reply!r}"


@pytest.fixture
def texter(api_client, rasa_stack, fresh_demo):
    def make(phone: str) -> Texter:
        return Texter(api_client, phone)

    return make

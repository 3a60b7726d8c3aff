"""Turns spread over the Rasa replicas: one replica per conversation, the next one when it is down, never twice.

Real HTTP against tests/fake_rasa.py servers on consecutive ports (replica I listens on RASA_URL's port + I).
"""

import os
import socket
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from relay.core.settings import PROJECT_ROOT, get_settings
from relay.inbound import rasa_client
from tests.fake_rasa import FakeRasa

SENDERS = [uuid.uuid5(uuid.NAMESPACE_URL, f"conversation-{i}").hex for i in range(200)]


def _point_at(monkeypatch, base_port: int, replicas: int) -> None:
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{base_port}")
    monkeypatch.setenv("RASA_REPLICAS", str(replicas))
    get_settings.cache_clear()


def _fakes_in_a_row(count: int) -> list[FakeRasa]:
    """`count` fake Rasa servers on consecutive ports (the first free, then the ones after it)."""
    for _ in range(50):
        fakes = [FakeRasa()]
        try:
            fakes += [FakeRasa(port=fakes[0].port + i) for i in range(1, count)]
        except OSError:  # a later port is taken: start again elsewhere
            for fake in fakes:
                fake.stop()
            continue
        return fakes
    raise RuntimeError("no consecutive free ports")


@pytest.fixture
def two_replicas(monkeypatch) -> Iterator[list[FakeRasa]]:
    fakes = _fakes_in_a_row(2)
    _point_at(monkeypatch, fakes[0].port, 2)
    yield fakes
    for fake in fakes:
        fake.stop()
    get_settings.cache_clear()


@pytest.fixture
def replica_0_up_replica_1_refusing(monkeypatch) -> Iterator[FakeRasa]:
    """Replica 0 answers; replica 1's port is bound but not listening, so connections to it are refused."""
    for _ in range(50):
        fake = FakeRasa()
        refusing = socket.socket()
        try:
            refusing.bind(("127.0.0.1", fake.port + 1))
        except OSError:
            refusing.close()
            fake.stop()
            continue
        _point_at(monkeypatch, fake.port, 2)
        yield fake
        refusing.close()
        fake.stop()
        get_settings.cache_clear()
        return
    raise RuntimeError("no consecutive free ports")


def _own_replica(sender: str) -> int:
    return get_settings().rasa_urls.index(rasa_client.replicas_for(sender, get_settings().rasa_urls)[0])


def test_each_conversation_stays_on_one_replica_and_both_get_a_fair_share(two_replicas):
    for _round in range(2):
        for sender in SENDERS:
            assert rasa_client.send_message(sender=sender, text="hi", channel="sms")
    by_replica = [Counter(request["sender"] for request in fake.received) for fake in two_replicas]
    assert set(by_replica[0]).isdisjoint(by_replica[1])  # no conversation on both
    assert all(count == 2 for counts in by_replica for count in counts.values())
    shares = [len(counts) for counts in by_replica]
    assert sum(shares) == len(SENDERS) and min(shares) >= 70, shares  # 100 each expected; 70 is 4 sigma off
    for i, counts in enumerate(by_replica):
        assert all(_own_replica(sender) == i for sender in counts)


def test_the_choice_does_not_depend_on_the_process(two_replicas):
    """Every API worker must pick the same replica for a conversation: no per-process salt (Python's hash())."""
    script = (
        "import sys; from relay.core.settings import get_settings; from relay.inbound.rasa_client import replicas_for\n"
        "urls = get_settings().rasa_urls\n"
        "print(' '.join(str(urls.index(replicas_for(s, urls)[0])) for s in sys.argv[1:]))"
    )
    senders = SENDERS[:20]
    for seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", script, *senders],
            env=os.environ | {"PYTHONHASHSEED": seed},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.split() == [str(_own_replica(sender)) for sender in senders]


def test_a_replica_that_refuses_the_connection_hands_its_conversations_to_the_next(replica_0_up_replica_1_refusing):
    fake = replica_0_up_replica_1_refusing
    stranded = [sender for sender in SENDERS if _own_replica(sender) == 1][:5]
    assert stranded
    for sender in stranded:
        assert rasa_client.send_message(sender=sender, text="where is my referral", channel="sms") == [
            {"recipient_id": sender, "text": "you said: where is my referral"}
        ]
    assert [request["sender"] for request in fake.received] == stranded
    assert rasa_client.get_tracker(stranded[0])["sender_id"] == stranded[0]


def test_when_every_replica_refuses_rasa_is_unavailable(monkeypatch):
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        try:
            second.bind(("127.0.0.1", port + 1))
        except OSError:
            pytest.skip("the port after a free one is taken")
        _point_at(monkeypatch, port, 2)
        with pytest.raises(rasa_client.RasaUnavailable) as raised:
            rasa_client.send_message(sender=SENDERS[0], text="hi", channel="sms")
        assert type(raised.value) is rasa_client.RasaUnavailable and "ConnectError" in str(raised.value)
    get_settings.cache_clear()


def test_a_replica_that_took_the_message_and_ran_late_is_not_asked_again_elsewhere(two_replicas):
    """It may finish the turn: sending the message to another replica would have Rasa process it twice."""
    sender = SENDERS[0]
    own = two_replicas[_own_replica(sender)]
    other = two_replicas[1 - _own_replica(sender)]
    own.delays["slow one"] = 1.0
    with pytest.raises(rasa_client.RasaTimeout):
        rasa_client.send_message(sender=sender, text="slow one", channel="sms", timeout=0.3)
    assert own.messages == ["slow one"]
    assert other.received == []


def test_ready_only_when_every_replica_has_its_model(two_replicas):
    assert rasa_client.is_ready() and rasa_client.replicas_down() == []
    two_replicas[1].model_file = ""  # still loading
    assert not rasa_client.is_ready()
    assert rasa_client.replicas_down() == [1]
    two_replicas[0].stop()
    assert rasa_client.replicas_down() == [0, 1]


def test_health_names_the_replica_that_is_down(two_replicas, api_client):
    two_replicas[1].model_file = ""
    response = api_client.get("/health")
    assert response.status_code == 503
    assert response.json()["components"]["rasa"] == "down (replica 1 of 2, counted from 0)"
    two_replicas[0].model_file = ""
    assert api_client.get("/health").json()["components"]["rasa"] == "down (replicas 0, 1 of 2, counted from 0)"


def test_one_replica_is_rasa_url_itself(monkeypatch):
    fake = FakeRasa()
    try:
        monkeypatch.setenv("RASA_URL", fake.url + "/")
        monkeypatch.delenv("RASA_REPLICAS", raising=False)
        get_settings.cache_clear()
        assert get_settings().rasa_urls == [fake.url]
        rasa_client.send_message(sender=SENDERS[0], text="hi", channel="voice")
        assert fake.received[0]["path"] == "/webhooks/voice/webhook"
    finally:
        fake.stop()
        get_settings.cache_clear()

"""A burst beyond what the bot answers in time: no webhook waits past the deadline, every text gets one answer.

BENCH_BURST_CONCURRENCY conversations (default 48) text the signed SMS
webhook for BENCH_BURST_SECONDS (default 300), everyday messages
(bench.sms.SCRIPT) over and over. Each patient waits for the answer before
texting again: the TwiML's, or, when the webhook answered empty at
SMS_TURN_DEADLINE_SECONDS (left at its default), the reply that follows
through Twilio's REST API (the fake Twilio records it).

What it must show (issue 14): no webhook answer takes longer than the deadline
plus 1 s; every message gets its answer, none twice. Counted per message, by
its MessageSid: replies in its TwiML, plus outbound rows stored in reply to it
whose Twilio SID the fake Twilio holds (a late reply). Texts the fake Twilio
received for the burst's numbers that match no reply are counted too.

    python -m bench.burst
"""

import sys
import threading
import time
import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bench.stack import Stack, running_stack, setting, using_stack

FIRST_PATIENT = 200  # bench patients 200-299
POLL_SECONDS = 0.1


@dataclass
class Sent:
    sid: str
    phone: str
    webhook_ms: float
    inline: int  # <Message> elements in the TwiML
    status: int
    answer_s: float | None  # until the answer was in hand (TwiML or the late text); None: none came in the wait


class TextsTo:
    """How many texts the fake Twilio has accepted for each number, kept up to date by one thread."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.counts, self.seen = stack, dict[str, int](), 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        while not self.stopped.wait(POLL_SECONDS / 2):
            sent = self.stack.twilio.sent  # oldest first
            for message in sent[self.seen :]:
                self.counts[message["to"]] = self.counts.get(message["to"], 0) + 1
            self.seen = len(sent)

    def __call__(self, phone: str) -> int:
        return self.counts.get(phone, 0)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


def run_burst(stack: Stack, *, users: int, seconds: float) -> dict:
    from bench.sms import CLINIC_NUMBER, SCRIPT, make_bench_patients
    from relay.core.settings import get_settings

    settings = get_settings()
    deadline_s = settings.sms_turn_deadline_seconds
    # Past the webhook's deadline the turn may wait for its conversation's lock and then Rasa.
    late_wait = 2 * settings.rasa_timeout_seconds + 30
    phones = make_bench_patients(users, first=FIRST_PATIENT)
    url = f"{stack.api_url}/webhooks/twilio/sms"
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    client = httpx.Client(timeout=deadline_s + 30, limits=httpx.Limits(max_connections=2 * users))
    sent: list[Sent] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    texts_to = TextsTo(stack)

    def patient(phone: str) -> None:
        turn = 0
        while time.monotonic() < stop_at:
            params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "To": CLINIC_NUMBER,
                      "Body": SCRIPT[turn % len(SCRIPT)], "AccountSid": "AC" + "0" * 32}  # fmt: skip
            turn += 1
            headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
            before = texts_to(phone)
            began = time.perf_counter()
            try:
                response = client.post(url, data=params, headers=headers)
                status, inline = response.status_code, response.text.count("<Message>")
            except httpx.HTTPError:
                status, inline = 0, 0
            webhook_ms = (time.perf_counter() - began) * 1000
            answer_s: float | None = webhook_ms / 1000 if inline else None
            if not inline and status == 200:  # the answer follows by REST: wait for it before texting again
                while time.perf_counter() - began < late_wait:
                    if texts_to(phone) > before:
                        answer_s = time.perf_counter() - began
                        break
                    time.sleep(POLL_SECONDS)
            with lock:
                sent.append(Sent(params["MessageSid"], phone, webhook_ms, inline, status, answer_s))

    threads = [threading.Thread(target=patient, args=(phone,)) for phone in phones]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    texts_to.stop()
    time.sleep(1)  # a late text sent at the very end of a wait is stored by now
    return _account(stack, sent, phones, deadline_s=deadline_s, seconds=elapsed, users=users)


def _account(stack: Stack, sent: list[Sent], phones: list[str], *, deadline_s: float, seconds: float,
             users: int) -> dict:  # fmt: skip
    """Match every message to its answers: TwiML replies and late texts at the fake Twilio."""
    from relay.core.db import session_scope
    from relay.models import Conversation, Handoff, Message

    numbers = set(phones)
    at_twilio = {m["sid"] for m in stack.twilio.sent if m["to"] in numbers}
    matched_twilio: set[str] = set()
    with session_scope() as session:
        ours = select(Conversation.id).where(Conversation.phone.in_(phones))
        messages = session.execute(
            select(Message.id, Message.direction, Message.twilio_sid, Message.in_reply_to_id).where(
                Message.conversation_id.in_(ours)
            )
        )
        inbound_ids: dict[str, int] = {}
        late_per_id: dict[int, int] = {}
        for message_id, direction, twilio_sid, reply_to in messages:
            if direction == "inbound" and twilio_sid is not None:
                inbound_ids[twilio_sid] = message_id
            elif reply_to is not None and twilio_sid is not None and twilio_sid in at_twilio:
                late_per_id[reply_to] = late_per_id.get(reply_to, 0) + 1
                matched_twilio.add(twilio_sid)
        late_by_inbound = {sid: late_per_id.get(message_id, 0) for sid, message_id in inbound_ids.items()}
        handoffs = len(session.scalars(select(Handoff.id).where(Handoff.conversation_id.in_(ours))).all())
    answers = [s.inline + late_by_inbound.get(s.sid, 0) for s in sent]
    webhook = sorted(s.webhook_ms for s in sent)
    waited = sorted(s.answer_s for s in sent if s.answer_s is not None and not s.inline)
    limit_ms = (deadline_s + 1) * 1000
    return {
        "concurrency": users,
        "seconds": round(seconds, 1),
        "deadline_s": deadline_s,
        "messages": len(sent),
        "webhook_errors": sum(1 for s in sent if s.status != 200),
        "webhook_p50_ms": _pct(webhook, 50),
        "webhook_p95_ms": _pct(webhook, 95),
        "webhook_p99_ms": _pct(webhook, 99),
        "webhook_max_ms": round(webhook[-1], 1) if webhook else None,
        "over_deadline_plus_1s": sum(1 for ms in webhook if ms > limit_ms),
        "answered_inline": sum(1 for s in sent if s.inline),
        "answered_late": sum(1 for s in sent if not s.inline and late_by_inbound.get(s.sid)),
        "late_answer_p50_s": round(_pct(waited, 50) or 0, 2) if waited else None,
        "late_answer_max_s": round(waited[-1], 2) if waited else None,
        "unanswered": sum(1 for a in answers if a == 0),
        "answered_twice_or_more": sum(1 for a in answers if a > 1),
        "texts_matching_no_reply": len(at_twilio - matched_twilio),
        "handoffs_in_burst_conversations": handoffs,
    }


def _pct(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)


def burst_markdown(f: dict) -> list[str]:
    return [
        f"## Burst: {f['concurrency']} conversations for {f['seconds']:.0f} s through the signed SMS webhook",
        "",
        "| | |",
        "| --- | ---: |",
        f"| messages | {f['messages']} |",
        f"| webhook answer p50 / p95 / p99 / max (ms) | {f['webhook_p50_ms']} / {f['webhook_p95_ms']} / "
        f"{f['webhook_p99_ms']} / {f['webhook_max_ms']} |",
        f"| webhook answers past the deadline ({f['deadline_s']:.0f} s) + 1 s (target 0) | "
        f"{f['over_deadline_plus_1s']} |",
        f"| answered in the TwiML / late, through the REST API | {f['answered_inline']} / {f['answered_late']} |",
        f"| late answer after p50 / max (s) | {f['late_answer_p50_s']} / {f['late_answer_max_s']} |",
        f"| unanswered (target 0) | {f['unanswered']} |",
        f"| answered twice or more (target 0) | {f['answered_twice_or_more']} |",
        f"| texts at the fake Twilio matching no reply | {f['texts_matching_no_reply']} |",
        f"| webhook errors | {f['webhook_errors']} |",
        f"| handoffs opened in these conversations | {f['handoffs_in_burst_conversations']} |",
        "",
        "Each patient texts again once it has the answer (TwiML, or the late text). A turn silenced by a handoff "
        "(the bot stays quiet while staff hold a conversation) counts as unanswered.",
    ]


def main() -> int:
    users, seconds = int(setting("BENCH_BURST_CONCURRENCY", 48)), setting("BENCH_BURST_SECONDS", 300)
    with running_stack() as stack, using_stack(stack):
        figures = run_burst(stack, users=users, seconds=seconds)
    print("\n".join(burst_markdown(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

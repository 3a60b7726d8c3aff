"""SMS turn latency and throughput: our full webhook turn against a bare Rasa round trip.

Both sides run the same scripted conversations against the same trained model,
action server and database; the baseline posts straight to Rasa's `sms`
channel with the conversation's opaque id, so the only difference is ours:
signature check, dedupe, persistence, pre-model checks, TwiML.
"""

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import httpx
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from relay.core.db import session_scope
from relay.models import Appointment, BookedSlot, Conversation, Patient, Referral

CLINIC_NUMBER = "+13125550100"
DOB = "9/3/1957"
# One cycle of a patient's conversation: greeting, FAQ, status with verification,
# a reschedule offer, and "no" to leave the booking form as it was.
SCRIPT = ("hi", "where do i park", "when is my appointment", DOB, "can i reschedule", "next tuesday afternoon", "no")


def make_bench_patients(count: int, first: int = 0) -> list[str]:
    """Patients like James Carter (a scheduled cardiology visit), one per conversation.

    Numbered from `first` (up to 999 in all): each benchmark takes its own range.
    """
    if first + count > 1000:
        raise ValueError("bench patients are numbered 0-999")
    phones = []
    with session_scope() as session:
        template = session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
        for n in range(first, first + count):
            phone = f"+1312555{9000 + n:04d}"
            phones.append(phone)
            if session.scalars(select(Patient).filter_by(phone=phone)).first():
                continue
            patient = Patient(mrn=f"BENCH-{n}", name=f"Bench Patient {n}", phone=phone, dob=date(1957, 9, 3),
                              language="en", insurance_payer="Medicare", sms_consent=True)  # fmt: skip
            session.add(patient)
            session.flush()
            referral = Referral(
                external_id=f"BENCH-RF-{n}", patient_id=patient.id, specialist_id=template.specialist_id,
                referring_provider_id=template.referring_provider_id, type="provider", status="scheduled",
                priority="routine", reason="benchmark", received_on=template.received_on,
            )  # fmt: skip
            session.add(referral)
            session.flush()
            booked = template.current_appointment
            if booked is None:
                raise RuntimeError("the demo referral RF-2001 has no appointment for the bench patients to copy")
            start = booked.start_at.replace(hour=(15 + n % 5) % 24, minute=0)
            appointment = Appointment(referral_id=referral.id, specialist_id=template.specialist_id,
                                      start_at=start, duration_minutes=30, status="scheduled")  # fmt: skip
            session.add(appointment)
            session.flush()
            if not session.scalars(
                select(BookedSlot).filter_by(specialist_id=template.specialist_id, start_at=start)
            ).first():
                session.add(
                    BookedSlot(specialist_id=template.specialist_id, start_at=start, appointment_id=appointment.id)
                )
    return phones


@dataclass
class Run:
    latencies_ms: list[float]
    errors: int
    seconds: float

    @property
    def turns(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def summary(self) -> dict:
        return {
            "turns": self.turns,
            "errors": self.errors,
            "p50_ms": round(self.percentile(50), 1),
            "p95_ms": round(self.percentile(95), 1),
            "p99_ms": round(self.percentile(99), 1),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 1) if self.latencies_ms else None,
            "turns_per_s": round(self.turns / self.seconds, 2) if self.seconds else None,
        }


class Webhook:
    """Posts signed Twilio SMS webhooks, as Twilio would."""

    def __init__(self, api_url: str, auth_token: str) -> None:
        self.url = f"{api_url}/webhooks/twilio/sms"
        self.validator = RequestValidator(auth_token)
        self.client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=64))

    def __call__(self, phone: str, text: str) -> bool:
        params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "To": CLINIC_NUMBER, "Body": text,
                  "AccountSid": "AC" + "0" * 32, "NumMedia": "0"}  # fmt: skip
        headers = {"X-Twilio-Signature": self.validator.compute_signature(self.url, params)}
        response = self.client.post(self.url, data=params, headers=headers)
        return response.status_code == 200 and "<Message>" in response.text


class NewConversations:
    """A sender whose every script cycle is a new conversation, for drive(): `begin_cycle` moves a user on.

    `fresh()` gives the next conversation's key (a phone, or a Rasa sender id):
    Rasa's cost per turn grows with the tracker, so a throughput figure over
    new conversations does not depend on how long the run is.
    """

    def __init__(self, send: Callable[[str, str], bool], fresh: Callable[[], str],
                 scripts: Callable[[], tuple[str, ...]] | None = None) -> None:  # fmt: skip
        self.send, self.fresh, self.scripts = send, fresh, scripts
        self.script = getattr(send, "script", SCRIPT)
        self.current: dict[str, str] = {}
        self.lock = threading.Lock()
        self.conversations = 0

    def begin_cycle(self, user: str) -> tuple[str, ...] | None:
        with self.lock:
            self.current[user] = self.fresh()
            self.conversations += 1
            return self.scripts() if self.scripts else None

    def __call__(self, user: str, text: str) -> bool:
        return self.send(self.current[user], text)


class BareRasa:
    """The same message straight to one of Rasa's channels, with the conversation's opaque id."""

    def __init__(self, rasa_url: str, channel: str = "sms") -> None:
        self.url = f"{rasa_url}/webhooks/{channel}/webhook"
        self.client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=64))
        self.senders: dict[str, str] = {}

    def __call__(self, phone: str, text: str) -> bool:
        response = self.client.post(self.url, json={"sender": self.senders[phone], "message": text, "metadata": {}})
        return response.status_code == 200 and bool(response.json())


def release_handoffs(phones: list[str]) -> int:
    """Give every bench conversation back to the bot between phases; returns how many were open.

    A handoff silences the bot, so one opened in a phase (a misunderstanding
    twice in a row, say) would turn the rest of the run into empty replies.
    """
    from relay.messaging.handoffs import open_handoff_for, resolve

    released = 0
    with session_scope() as session:
        for conversation in session.scalars(select(Conversation).where(Conversation.phone.in_(phones))):
            while (handoff := open_handoff_for(session, conversation=conversation)) is not None:
                resolve(session, handoff=handoff, actor="bench")
                released += 1
    return released


def conversation_ids(phones: list[str]) -> dict[str, str]:
    with session_scope() as session:
        rows = session.scalars(select(Conversation).where(Conversation.phone.in_(phones))).all()
        return {c.phone: c.public_id for c in rows}


def drive(send: Callable[[str, str], bool], phones: list[str], *, cycles: int | None = None,
          seconds: float | None = None, progress: Callable[[int], object] | None = None) -> Run:  # fmt: skip
    """Each phone runs the script in its own thread, `cycles` times or for `seconds`.

    A sender with a `begin_cycle(phone)` method gets it called, untimed, before
    each cycle (the voice side starts a new call there); what it returns, if
    anything, is that cycle's script."""
    begin_cycle = getattr(send, "begin_cycle", None)
    script = getattr(send, "script", SCRIPT)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds if seconds else None

    def user(phone: str) -> None:
        nonlocal errors
        done = 0
        while (cycles is None or done < cycles) and (deadline is None or time.monotonic() < deadline):
            cycle_script = begin_cycle(phone) if begin_cycle is not None else None
            for text in cycle_script or script:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                started = time.perf_counter()
                ok = send(phone, text)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    else:
                        errors += 1
                if progress:
                    progress(1)
            done += 1

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(phones)) as pool:
        list(pool.map(user, phones))
    return Run(latencies, errors, time.monotonic() - started)


def drive_paired(sides: dict[str, tuple[Callable[[str, str], bool], str]], *, cycles: int,
                 progress: Callable[[int], object] | None = None) -> tuple[dict[str, Run], Run]:  # fmt: skip
    """One conversation per side, the same message on both sides back to back, first one side, then the other.

    At one conversation the two sides can be paired turn by turn: whatever
    slows the machine or Rasa for a moment (a garbage collection, the worker's
    sweep, a longer tracker) lands on both halves of a pair. Returns each
    side's run and a run of the differences (second side minus first, for
    the pairs where both answered): what the second side adds to a turn.
    """
    (first_name, (first, first_phone)), (second_name, (second, second_phone)) = sides.items()
    script = getattr(second, "script", SCRIPT)
    latencies: dict[str, list[float]] = {first_name: [], second_name: []}
    errors = {first_name: 0, second_name: 0}
    differences: list[float] = []
    started = time.monotonic()
    turn = 0
    for _ in range(cycles):
        for send, phone in ((first, first_phone), (second, second_phone)):
            if (begin_cycle := getattr(send, "begin_cycle", None)) is not None:
                begin_cycle(phone)
        for text in script:
            order = [(first_name, first, first_phone), (second_name, second, second_phone)]
            elapsed: dict[str, float] = {}
            for name, send, phone in order if turn % 2 == 0 else reversed(order):
                began = time.perf_counter()
                if send(phone, text):
                    elapsed[name] = (time.perf_counter() - began) * 1000
                    latencies[name].append(elapsed[name])
                else:
                    errors[name] += 1
            if len(elapsed) == 2:
                differences.append(elapsed[second_name] - elapsed[first_name])
            turn += 1
            if progress:
                progress(2)
    seconds = time.monotonic() - started
    runs = {name: Run(latencies[name], errors[name], seconds) for name in latencies}
    return runs, Run(differences, 0, seconds)


def drive_interleaved(sides: dict[str, tuple[Callable[[str, str], bool], list[str]]], *, cycles: int,
                      progress: Callable[[int], object] | None = None) -> dict[str, Run]:  # fmt: skip
    """Run each side's script one cycle at a time, taking turns (A B B A A B ...).

    Rasa's own speed drifts during a run (other load on the machine, the
    trackers growing); measuring one side after the other would count that
    drift as a difference between them.
    """
    names = list(sides)
    runs = {name: Run([], 0, 0.0) for name in names}
    for cycle in range(cycles):
        for name in names if cycle % 2 == 0 else reversed(names):
            send, phones = sides[name]
            run = drive(send, phones, cycles=1, progress=progress)
            merged = runs[name]
            runs[name] = Run(
                merged.latencies_ms + run.latencies_ms, merged.errors + run.errors, merged.seconds + run.seconds
            )
    return runs

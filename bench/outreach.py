"""Outreach benchmarks: planning 100,000 appointments, and sending due rows to a local fake Twilio.

Everything runs on the real parts: the database of DATABASE_URL, a real Redis,
real worker processes (`relay serve worker` beside one `relay serve cron`: RQ with its cron sweep and
scheduler), and the official twilio client posting to tests/fake_twilio.py,
which runs in a process of its own so that nothing else in the bench process
can slow it down. Every figure comes with a baseline measured in the same run
and a ratio to it.

Where things run
----------------
- Database: PostgreSQL when DATABASE_URL names it, in a scratch schema
  (`bench_outreach_<pid>`, first on the search_path, dropped at the end), so
  100,000 bench patients never mix with what the database already holds.
  Otherwise a fresh temporary SQLite file (the bench needs an empty outreach
  table, and must not fill someone's SQLite file). Migrated with `relay
  migrate`; `relay seed-demo` provides the clinic and its specialists.
- Redis: REDIS_URL, else the embedded redis-server (`relay serve redis`) on a
  free loopback port.
- Rate limit off (OUTREACH_RATE_LIMIT_PER_SECOND=0): the bench measures our
  dispatch, not the sender's 1 message/s.
- Quiet hours stay on. The patients whose rows are sent are moved to a
  fixed-offset zone where it is about noon at the time of the run (as the
  scheduler tests do), so a run at night is not deferred to 08:00.

Planning (appointments/s)
-------------------------
BENCH_OUTREACH_APPOINTMENTS (100,000) patients with one scheduled referral
and one appointment each (1 to 30 days ahead, 15% confirmed, four US zones,
10% Spanish, 5% without SMS consent) are bulk-inserted with SQLAlchemy Core
(not timed). Then, over every referral and appointment in the database:

- baseline: the pure planning functions (`plan_appointment`, `plan_referral`,
  `planning_state`) over the same facts, already in memory: planning with no
  database at all;
- `replan_all` with no plan yet (an import: every row is new), committed;
- `replan_all` again on the same state (a re-plan that changes nothing).

The ratio is our rate over the baseline's. The plan is made with the clock a
day ahead, so none of its rows comes due while dispatch is measured.

Dispatch (sends/s) and lateness (s)
-----------------------------------
For 1 and then 2 worker processes, on confirmations of distinct patients (the
demo clinic's own rows are set aside first, so only these go out):

- backlog: BENCH_OUTREACH_SENDS rows all due at once (after an outage, or an
  import); sends/s from the first arrival at the fake to the last. Baseline:
  the bare twilio client (one client, keep-alive, `messages.create` back to
  back) sending as many messages to the same fake from as many processes as
  there are workers: what the client and the fake cost without our work.
- paced: rows coming due one after another at half the backlog's measured
  rate, a clinic's steady state; lateness per row is when the fake received
  it minus its due_at (p50 / p99 / max). Baseline: the bare client posting
  each message at its due time from a timer loop, the floor of lateness.
  Right after it makes rows due, the bench runs the sweep once, as RQ's cron
  does every 30 s: a clinic's rows are planned long before they are due, so
  some tick has always seen them coming (scheduler.sweep schedules a sweep
  for their due time); without it, the phase would open with a wait for the
  next tick that no planned reminder waits.

Worker memory (MB)
------------------
Each worker's process tree (the RQ worker and, in one worker, RQ's scheduler
child; RQ's cron is a process of its own, not a worker's), sampled every 0.2 s with psutil from its start until it
stops. Forked children share pages, so the tree is measured as PSS (each
shared page divided among its sharers: what the tree costs the machine; the
target is judged on it) and as the plain sum of RSS (shared pages counted once
per process: an upper bound). Baseline: the same tree idle, before its first
job.

Checks: every row must end `sent`, with one POST per row at the fake and no
other POST, no refusal and no failed job; `errors` counts any miss, and
a run with errors is not a measurement.

Timings on a shared machine are noisy; run it on a quiet one. Environment:
BENCH_OUTREACH_APPOINTMENTS (100000), BENCH_OUTREACH_SENDS (2500 per phase,
about a minute per worker count), DATABASE_URL, REDIS_URL, and
BENCH_OUTREACH_LOGS (a folder to keep the processes' logs in). `python -m
bench.outreach` prints the Markdown and writes bench/outreach-results.json.
"""

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import psutil
from sqlalchemy import create_engine, delete, func, insert, select, text, update
from sqlalchemy.engine import make_url
from tqdm import tqdm

from relay.core.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from redis import Redis

RESULTS_FILE = Path(__file__).resolve().parent / "outreach-results.json"

TARGET_PLANS_PER_S = 5000
TARGET_SENDS_PER_S = 300  # with 2 workers
TARGET_P99_LATENESS_S = 30
TARGET_WORKER_MB = 200

# The bench's own Twilio account at the fake: no placeholder, nothing real.
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-outreach-auth-token"
ZONES = ("America/Chicago", "America/New_York", "America/Denver", "America/Los_Angeles")
INSERT_CHUNK = 10_000
WORKER_COUNTS = (1, 2)
MEMORY_SAMPLE_SECONDS = 0.2


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile `q` of `values`, which must not be empty."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _ratio(ours: float | None, base: float | None) -> float | None:
    return round(ours / base, 3) if ours is not None and base else None


# --- child processes: the fake Twilio, and the bare client baseline -----------
#
# Plain subprocesses speaking JSON lines on stdin/stdout rather than
# multiprocessing, whose spawn mode re-imports the caller's main module.


def _child(role: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", f"from bench.outreach import _{role}; _{role}()"],
        cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
    )  # fmt: skip


def _pipes(process: subprocess.Popen[str]) -> tuple[IO[str], IO[str]]:
    """A child's stdin and stdout (`_child` always opens both)."""
    if process.stdin is None or process.stdout is None:
        raise RuntimeError(f"child process {process.pid} has no stdin/stdout pipes")
    return process.stdin, process.stdout


def _tell(process: subprocess.Popen[str], message: object) -> Any:
    """Send `message` to a child and return its answer, decoded from JSON (so of any JSON type)."""
    stdin, stdout = _pipes(process)
    stdin.write(json.dumps(message) + "\n")
    stdin.flush()
    return json.loads(stdout.readline())


def _reply(message: object) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _fake_twilio_child() -> None:
    """Run tests/fake_twilio.py in this process and answer the bench's questions."""
    from tests.fake_twilio import FakeTwilio

    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN).start()
    wall_offset = time.time() - time.monotonic()  # the fake stamps arrivals with time.monotonic()
    _reply(fake.base_url)
    for line in sys.stdin:
        command = json.loads(line)
        with fake._lock:
            if command == "posts":
                _reply(
                    [(r.form.get("To"), r.answered, r.at + wall_offset) for r in fake.requests if r.method == "POST"]
                )
            elif command == "count":
                _reply(sum(1 for r in fake.requests if r.method == "POST"))
            elif command == "reset":
                fake.requests.clear()
                fake.messages.clear()
                _reply(True)
            elif command == "rss":
                _reply(psutil.Process().memory_info().rss)
        if command == "stop":
            break
    fake.stop()


class FakeTwilioProcess:
    def __init__(self) -> None:
        self.process = _child("fake_twilio_child")
        self.base_url: str = json.loads(_pipes(self.process)[1].readline())

    def posts(self) -> list[tuple[str | None, int, float]]:
        """Every POST as (To, HTTP status answered, wall-clock arrival); To is None when a POST had none."""
        return [(to, answered, at) for to, answered, at in _tell(self.process, "posts")]

    def count(self) -> int:
        return _tell(self.process, "count")

    def reset(self) -> None:
        _tell(self.process, "reset")

    def rss_mb(self) -> float:
        return round(_tell(self.process, "rss") / 2**20, 1)

    def stop(self) -> None:
        if self.process.poll() is None:
            stdin, _ = _pipes(self.process)
            stdin.write(json.dumps("stop") + "\n")
            stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- the environment: database, Redis, fake, workers --------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class BenchEnvironment:
    workdir: Path
    database_url: str
    redis_url: str
    fake: FakeTwilioProcess
    env: dict[str, str]  # for every process the bench starts
    database: str  # "sqlite" or "postgresql"
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    embedded_redis: bool = False

    def relay(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        out = (self.workdir / f"{log}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "relay.ops.cli", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def run(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "relay.ops.cli", *args], cwd=PROJECT_ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip

    def redis(self) -> "Redis":
        from redis import Redis

        return Redis.from_url(self.redis_url)


def _scratch_schema_url(url: str, schema: str) -> str:
    """The same PostgreSQL database, with `schema` first on the search_path."""
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@contextmanager
def bench_environment() -> Iterator[BenchEnvironment]:
    given = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="relay-bench-outreach-") as tmp:
        workdir = Path(tmp)
        schema = None
        if given.startswith("postgresql"):
            schema = f"bench_outreach_{os.getpid()}"
            admin = create_engine(given)
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            database_url = _scratch_schema_url(given, schema)
        else:
            database_url = f"sqlite:///{workdir / 'outreach.db'}"
        fake = FakeTwilioProcess()
        env = {k: v for k, v in os.environ.items() if k != "RELAY_ENV"} | {
            "DATABASE_URL": database_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE_URL": fake.base_url,
            "OUTREACH_RATE_LIMIT_PER_SECOND": "0",
            "LOG_LEVEL": "WARNING",
        }
        bench = BenchEnvironment(workdir, database_url, _live_redis_url(), fake, env,
                                 "postgresql" if schema else "sqlite")  # fmt: skip
        try:
            if not bench.redis_url:
                bench.redis_url = env["REDIS_URL"] = f"redis://127.0.0.1:{_free_port()}/0"
                bench.relay("serve", "redis", log="redis")
                bench.embedded_redis = True
                _wait(lambda: bench.redis().ping(), 30, "the embedded Redis")
            bench.run("migrate")
            bench.run("seed-demo")
            yield bench
        finally:
            if os.environ.get("BENCH_OUTREACH_LOGS"):  # keep the processes' logs (the workdir goes)
                import shutil

                shutil.copytree(workdir, os.environ["BENCH_OUTREACH_LOGS"], dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("*.db*"))  # fmt: skip
            for process in bench.processes:
                process.terminate()
            for process in bench.processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            fake.stop()
            from relay.core.db import get_engine

            get_engine(database_url).dispose()
            if schema:
                with admin.begin() as connection:
                    connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                admin.dispose()


def _live_redis_url() -> str:
    """REDIS_URL if a Redis answers there, else "" (the bench then starts its own).

    A caller that ran another stack first may still carry that stack's
    REDIS_URL after stopping its Redis; the bench says so and goes on.
    """
    from redis import Redis
    from redis.exceptions import RedisError

    url = os.environ.get("REDIS_URL", "")
    if not url:
        return ""
    try:
        Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except RedisError:
        print(f"bench.outreach: no Redis answers at REDIS_URL ({url}); starting an embedded one", file=sys.stderr)
        return ""
    return url


def _wait(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # not up yet
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f}s")
        time.sleep(0.2)


# --- data: 100,000 appointments, bulk-inserted --------------------------------


def create_appointments(database_url: str, count: int, *, plan_now: datetime, progress: tqdm) -> None:
    """`count` patients, each with one scheduled referral and one appointment after `plan_now`."""
    from relay.core.db import session_scope
    from relay.models import Appointment, Patient, Referral, Specialist
    from relay.records.clinics import get_clinic

    rng = random.Random(20240611)
    with session_scope(database_url) as session:
        specialists = session.scalars(select(Specialist.id).order_by(Specialist.id)).all()
        clinic_zone = ZoneInfo(get_clinic(session).timezone)
    first_day = plan_now.astimezone(clinic_zone).date() + timedelta(days=1)
    for start in range(0, count, INSERT_CHUNK):
        numbers = range(start, min(count, start + INSERT_CHUNK))
        with session_scope(database_url) as session:
            patient_ids = session.scalars(
                insert(Patient).returning(Patient.id, sort_by_parameter_order=True),
                [
                    {
                        "mrn": f"BENCH-OUT-{n}",
                        "name": f"Outreach Bench {n}",
                        "phone": f"+1202{n:07d}",
                        "dob": date(1960, 1, 1) + timedelta(days=n % 15000),
                        "language": "es" if n % 10 == 3 else "en",
                        "timezone": ZONES[n % len(ZONES)],
                        "sms_consent": n % 20 != 7,
                    }
                    for n in numbers
                ],
            ).all()
            referral_ids = session.scalars(
                insert(Referral).returning(Referral.id, sort_by_parameter_order=True),
                [
                    {
                        "external_id": f"BENCH-OUT-RF-{n}",
                        "patient_id": patient_id,
                        "specialist_id": specialists[n % len(specialists)],
                        "type": "provider",
                        "status": "scheduled",
                        "priority": "routine",
                        "reason": "benchmark",
                        "received_on": first_day - timedelta(days=14),
                    }
                    for n, patient_id in zip(numbers, patient_ids, strict=True)
                ],
            ).all()
            session.execute(
                insert(Appointment),
                [
                    {
                        "referral_id": referral_id,
                        "specialist_id": specialists[n % len(specialists)],
                        "start_at": datetime.combine(
                            first_day + timedelta(days=rng.randrange(30)),
                            clock(8 + rng.randrange(9), rng.choice((0, 30))),
                            tzinfo=clinic_zone,
                        ).astimezone(UTC),
                        "duration_minutes": 30,
                        "status": "confirmed" if rng.random() < 0.15 else "scheduled",
                    }
                    for n, referral_id in zip(numbers, referral_ids, strict=True)
                ],
            )
        progress.update(len(numbers))


# --- planning ------------------------------------------------------------------


def _pure_facts(database_url: str, *, now: datetime) -> list[tuple]:
    """(AppointmentFacts, ReferralFacts, consented) for every appointment, read in one query (not timed).

    Built the way the planner builds them for this data: no audit history, so
    a referral's status is anchored on the planning clock; consent from the
    patient's flag (the bench writes no ledger events).
    """
    from relay.core.db import session_scope
    from relay.models import Appointment, Patient, Referral
    from relay.outreach.cadence import load_cadence
    from relay.outreach.plan import AppointmentFacts, Audience, ReferralFacts
    from relay.records.clinics import get_clinic

    cadence = load_cadence()
    with session_scope(database_url) as session:
        clinic = get_clinic(session)
        quiet_start, quiet_end = cadence.quiet_window(clinic)
        audiences: dict[str, Audience] = {}
        rows = session.execute(
            select(
                Appointment.id,
                Appointment.start_at,
                Appointment.status,
                Referral.id,
                Referral.status,
                Patient.timezone,
                Patient.sms_consent,
            )
            .join(Referral, Appointment.referral_id == Referral.id)
            .join(Patient, Referral.patient_id == Patient.id)
            .order_by(Appointment.id)
        ).all()
        facts = []
        for appointment_id, start_at, status, referral_id, referral_status, tz, consent in rows:
            zone = tz or clinic.timezone
            audience = audiences.setdefault(zone, Audience(tz=zone, quiet_start=quiet_start, quiet_end=quiet_end))
            facts.append((
                AppointmentFacts(id=appointment_id, start_at=start_at, status=status, audience=audience),
                ReferralFacts(id=referral_id, status=referral_status, since=now,
                              audience=audience, appointment_id=appointment_id),
                consent,
            ))  # fmt: skip
    return facts


def pure_planning_seconds(facts: list[tuple], *, now: datetime) -> tuple[float, int]:
    """Seconds the pure planning functions take over `facts`, and how many rows they want."""
    from relay.outreach.cadence import load_cadence
    from relay.outreach.plan import plan_appointment, plan_referral, planning_state

    cadence = load_cadence()
    wanted = 0
    started = time.perf_counter()
    for appointment, referral, consented in facts:
        for item in plan_appointment(appointment, cadence, now) + plan_referral(referral, cadence):
            planning_state(item, consented=consented, now=now)
            wanted += 1
    return time.perf_counter() - started, wanted


def measure_planning(bench: BenchEnvironment, *, appointments: int, plan_now: datetime, progress_factory) -> dict:
    from relay.core.db import session_scope
    from relay.models import Appointment, PlannedOutreach
    from relay.outreach.bulk import replan_all

    url = bench.database_url
    started = time.perf_counter()
    with progress_factory(total=appointments, desc="outreach: create appointments", unit="appt") as bar:
        create_appointments(url, appointments, plan_now=plan_now, progress=bar)
    creation_seconds = time.perf_counter() - started
    with session_scope(url) as session:
        total = session.execute(select(func.count()).select_from(Appointment)).scalar_one()
        session.execute(delete(PlannedOutreach))  # the demo's plan: start from an empty one

    facts = _pure_facts(url, now=plan_now)
    pure_seconds, wanted = pure_planning_seconds(facts, now=plan_now)
    del facts

    timings = {}
    for phase in ("replan_initial", "replan_unchanged"):
        with progress_factory(total=1, desc=f"outreach: {phase}", unit="run") as bar:
            started = time.perf_counter()
            with session_scope(url) as session:
                replan_all(session, now=plan_now)
            timings[phase] = time.perf_counter() - started
            bar.update(1)
    with session_scope(url) as session:
        planned_rows = session.scalar(select(func.count()).select_from(PlannedOutreach))

    def figure(seconds: float) -> dict[str, float]:
        return {"seconds": round(seconds, 3), "appointments_per_s": round(total / seconds, 1)}

    replans = {phase: figure(seconds) for phase, seconds in timings.items()}
    result: dict[str, object] = {
        "appointments": total,
        "bench_appointments": appointments,
        "rows_planned": planned_rows,
        "rows_wanted_by_pure_plan": wanted,
        "data_creation_s": round(creation_seconds, 2),
        "pure": figure(pure_seconds),
    }
    for phase, seconds in timings.items():
        result[phase] = replans[phase] | {"ratio_to_pure": _ratio(pure_seconds, seconds)}
    result["meets_target"] = min(r["appointments_per_s"] for r in replans.values()) >= TARGET_PLANS_PER_S
    return result


# --- dispatch --------------------------------------------------------------------

CLINIC_NUMBER = "+13125550100"
BARE_BODY = (
    "Riverside Family Health: your appointment with Dr. Amara Okafor is booked for Tue, Dec 1 at 10:00 AM at "
    "Lakeside Heart Center. Reply C to confirm or R to reschedule."
)


@dataclass(frozen=True)
class DispatchRow:
    outreach_id: int
    phone: str


def choose_dispatch_rows(database_url: str, count: int) -> list[DispatchRow]:
    """Confirmations of distinct consenting patients, who are moved to a zone where it is now about noon.

    The demo clinic's own plan is set aside first (cancelled, error_code
    "bench"): some of it is due at once, and only the chosen rows may go out.
    """
    from relay.core.db import session_scope
    from relay.models import Patient, PlannedOutreach

    now = datetime.now(UTC)
    offset = 12 - now.hour  # -11 .. +12: a fixed-offset zone where it is around noon
    daytime = "Etc/GMT" + (f"{-offset:+d}" if offset else "")
    with session_scope(database_url) as session:
        demo = select(Patient.id).where(Patient.mrn.not_like("BENCH-OUT-%"))
        session.execute(
            update(PlannedOutreach)
            .where(PlannedOutreach.state == "planned", PlannedOutreach.patient_id.in_(demo))
            .values(state="cancelled", error_code="bench")
        )
        found = session.execute(
            select(PlannedOutreach.id, Patient.id, Patient.phone)
            .join(Patient, PlannedOutreach.patient_id == Patient.id)
            .where(
                PlannedOutreach.kind == "confirmation",
                PlannedOutreach.state == "planned",
                Patient.mrn.like("BENCH-OUT-%"),
                Patient.phone.is_not(None),
            )
            .order_by(PlannedOutreach.id)
            .limit(count)
        ).all()
        if len(found) < count:
            raise RuntimeError(f"only {len(found)} confirmations to dispatch; raise BENCH_OUTREACH_APPOINTMENTS")
        session.execute(update(Patient), [{"id": patient_id, "timezone": daytime} for _, patient_id, _ in found])
    return [DispatchRow(outreach_id, phone) for outreach_id, _, phone in found if phone is not None]


class WorkerPool:
    """`count` real worker processes (`relay serve worker`), and the memory of each one's process tree.

    A tree is the RQ worker and, in one of them, RQ's scheduler child. RQ's
    cron runs beside them as one process of its own (`relay serve cron`),
    as in the Procfile; it is not a worker's, so it is not measured. Their
    resident sizes overlap (forked children share the parent's pages until
    they write to them), so a tree is measured twice:
    PSS, each shared page divided among the processes sharing it (what the
    tree really costs, and what the target is judged on), and the plain sum
    of RSS, which counts shared pages once per process (an upper bound).
    """

    def __init__(self, bench: BenchEnvironment, count: int) -> None:
        self.bench = bench
        self.processes = [bench.relay("serve", "worker", log=f"worker-{count}x-{n}") for n in range(count)]
        self.cron = bench.relay("serve", "cron", log=f"cron-{count}x")
        self.peak = [{"pss_mb": 0.0, "rss_sum_mb": 0.0, "processes": 0} for _ in range(count)]
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> None:
        from rq import Worker

        redis = self.bench.redis()
        _wait(lambda: len(Worker.all(connection=redis)) >= len(self.processes), 60, "the RQ workers")
        time.sleep(2)  # let the cron's first sweep run and settle
        self.idle = self.memory()
        self._sampler.start()

    def memory(self) -> list[dict]:
        return [_tree_memory(process.pid) for process in self.processes]

    def _sample(self) -> None:
        while not self._stop.wait(MEMORY_SAMPLE_SECONDS):
            for peak, now in zip(self.peak, self.memory(), strict=True):
                for key in peak:
                    peak[key] = max(peak[key], now[key])

    def stop(self) -> None:
        self._stop.set()
        for process in [*self.processes, self.cron]:
            process.send_signal(signal.SIGTERM)  # RQ's warm shutdown: the current job finishes
        for process in [*self.processes, self.cron]:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
            self.bench.processes.remove(process)


def _tree_memory(pid: int) -> dict:
    pss = rss = members = 0
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    for member in tree:
        try:
            info = member.memory_full_info()
        except psutil.NoSuchProcess:  # a child that just ended
            continue
        pss, rss, members = pss + info.pss, rss + info.rss, members + 1
    return {"pss_mb": round(pss / 2**20, 1), "rss_sum_mb": round(rss / 2**20, 1), "processes": members}


def _make_due(database_url: str, rows: list[DispatchRow], due: list[datetime]) -> None:
    from relay.core.db import session_scope
    from relay.models import PlannedOutreach

    with session_scope(database_url) as session:
        session.execute(
            update(PlannedOutreach), [{"id": r.outreach_id, "due_at": d} for r, d in zip(rows, due, strict=True)]
        )


def _tick_the_sweep(bench: BenchEnvironment) -> None:
    """Run the sweep once now, as RQ's cron does every 30 s.

    The bench makes rows due just before it measures; a clinic's rows are
    planned well before they are due (days for reminders), so some cron tick
    has always seen them coming and scheduled a sweep for their due time
    (scheduler.sweep). Without this tick, a phase would start by waiting for
    the next one, up to 30 s, and charge that to the first rows' lateness.
    """
    from rq import Queue

    from scheduler.queues import SWEEP_QUEUE

    Queue(SWEEP_QUEUE, connection=bench.redis()).enqueue("scheduler.sweep.run_sweep", job_timeout=300, result_ttl=60)


def _await_arrivals(bench: BenchEnvironment, count: int, *, timeout: float, desc: str, progress_factory) -> None:
    deadline = time.monotonic() + timeout
    with progress_factory(total=count, desc=desc, unit="send") as bar:
        seen = 0
        while seen < count and time.monotonic() < deadline:
            time.sleep(0.5)
            now_seen = bench.fake.count()
            bar.update(now_seen - seen)
            seen = now_seen


def _await_recorded(database_url: str, rows: list[DispatchRow], timeout: float) -> dict[str, int]:
    """Wait for the rows to leave `sending`; the states they ended in."""
    from relay.core.db import session_scope
    from relay.models import PlannedOutreach

    ids = [r.outreach_id for r in rows]
    deadline = time.monotonic() + timeout
    while True:
        states: Counter = Counter()
        with session_scope(database_url) as session:
            for start in range(0, len(ids), 5000):
                states.update(
                    session.scalars(
                        select(PlannedOutreach.state).where(PlannedOutreach.id.in_(ids[start : start + 5000]))
                    )
                )
        if states.get("sent", 0) == len(ids) or time.monotonic() > deadline:
            return dict(states)
        time.sleep(0.5)


def _failed_jobs(bench: BenchEnvironment) -> dict[str, str]:
    """Failed RQ jobs: id -> the last line of the error (exception and message; the bench's data has no PHI)."""
    from rq import Queue
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    from scheduler.queues import QUEUE_NAMES

    redis = bench.redis()
    failed = {}
    for name in QUEUE_NAMES:
        for job_id in FailedJobRegistry(queue=Queue(name, connection=redis)).get_job_ids():
            job = Job.fetch(job_id, connection=redis)
            result = job.latest_result()
            error = (result.exc_string if result is not None else "") or ""
            failed[job_id] = (error.strip().splitlines() or ["?"])[-1][:300]
    return failed


def dispatch_run(bench: BenchEnvironment, rows: list[DispatchRow], due: list[datetime], *, desc: str,
                 timeout: float, progress_factory) -> dict:  # fmt: skip
    """Make `rows` due at `due`, let the running workers send them, and check what arrived at the fake."""
    bench.fake.reset()
    failed_before = _failed_jobs(bench).keys()
    _make_due(bench.database_url, rows, due)
    _tick_the_sweep(bench)
    _await_arrivals(bench, len(rows), timeout=timeout, desc=desc, progress_factory=progress_factory)
    states = _await_recorded(bench.database_url, rows, timeout=60)
    posts = bench.fake.posts()
    arrivals: dict[str | None, list[float]] = {}
    for to, answered, at in posts:
        if answered == 201:
            arrivals.setdefault(to, []).append(at)
    lateness: list[float] = []
    firsts: list[float] = []
    for row, due_at in zip(rows, due, strict=True):
        times = arrivals.get(row.phone, [])
        if times:
            firsts.append(min(times))
            lateness.append(min(times) - due_at.timestamp())
    phones = {r.phone for r in rows}
    duplicates = sum(len(t) - 1 for p, t in arrivals.items() if p in phones)
    strangers = sum(len(t) for p, t in arrivals.items() if p not in phones)
    refused = sum(1 for _, answered, _ in posts if answered != 201)
    failed_jobs = {job: error for job, error in _failed_jobs(bench).items() if job not in failed_before}
    result: dict[str, object] = {
        "sends": len(rows),
        "arrived": len(firsts),
        "duplicates": duplicates,
        "strangers": strangers,
        "refused": refused,
        "failed_jobs": failed_jobs,
        "row_states": states,
        "lateness_s": _spread(lateness),
    }
    if len(firsts) > 1:
        result["first_to_last_s"] = round(max(firsts) - min(firsts), 3)
        result["sends_per_s"] = round((len(firsts) - 1) / (max(firsts) - min(firsts)), 1)
        result["due_to_last_s"] = round(max(firsts) - min(d.timestamp() for d in due), 3)
    result["errors"] = (
        (len(rows) - len(firsts)) + duplicates + strangers + refused
        + len(failed_jobs) + (len(rows) - states.get("sent", 0))
    )  # fmt: skip
    return result


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    return {
        "p50": round(_percentile(values, 50), 3),
        "p99": round(_percentile(values, 99), 3),
        "max": round(max(values), 3),
    }


# --- baselines for dispatch: the bare twilio client at the same fake -------------


def _bare_sender_child() -> None:
    """Post one message per phone with the official client: back to back, or each at its due time."""
    from pydantic import SecretStr

    from relay.core.settings import Settings
    from relay.messaging.sms_sender import status_callback_url, twilio_client

    job = json.loads(sys.stdin.readline())
    settings = Settings(
        twilio_account_sid=ACCOUNT_SID, twilio_auth_token=SecretStr(AUTH_TOKEN), twilio_api_base_url=job["base_url"]
    )
    messages = twilio_client(settings).messages
    callback = status_callback_url(settings)
    _reply("ready")
    start_at = json.loads(sys.stdin.readline())
    errors = 0
    for phone, offset in zip(job["phones"], job["offsets"] or [None] * len(job["phones"]), strict=True):
        if offset is not None:
            time.sleep(max(0.0, start_at + offset - time.time()))
        try:
            messages.create(to=phone, from_=CLINIC_NUMBER, body=BARE_BODY, status_callback=callback)
        except Exception:  # counted and reported
            errors += 1
    _reply(errors)


def bare_client(bench: BenchEnvironment, *, concurrency: int, sends: int, rate: float | None = None) -> dict:
    """The official client alone: `sends` messages from `concurrency` processes, back to back (or paced at `rate`/s)."""
    phones = [f"+1203{n:07d}" for n in range(sends)]
    offsets = [n / rate for n in range(sends)] if rate else None
    bench.fake.reset()
    senders = [_child("bare_sender_child") for _ in range(concurrency)]
    try:
        for n, sender in enumerate(senders):
            job = {"base_url": bench.fake.base_url, "phones": phones[n::concurrency],
                   "offsets": offsets[n::concurrency] if offsets else None}  # fmt: skip
            assert _tell(sender, job) == "ready"
        start_at = time.time() + 0.2
        for sender in senders:
            stdin, _ = _pipes(sender)
            stdin.write(json.dumps(start_at) + "\n")
            stdin.flush()
        errors = sum(json.loads(_pipes(sender)[1].readline()) for sender in senders)
    finally:
        for sender in senders:
            _pipes(sender)[0].close()
            sender.wait(timeout=30)
    posts = bench.fake.posts()
    bench.fake.reset()
    arrived = {to: at for to, answered, at in posts if answered == 201}
    result: dict[str, object] = {"sends": sends, "concurrency": concurrency, "errors": errors + sends - len(arrived)}
    if offsets:
        result["offered_per_s"] = rate
        result["lateness_s"] = _spread(
            [arrived[p] - (start_at + o) for p, o in zip(phones, offsets, strict=True) if p in arrived]
        )
    elif len(arrived) > 1:
        times = sorted(arrived.values())
        result["sends_per_s"] = round((len(times) - 1) / (times[-1] - times[0]), 1)
    return result


# --- the whole run ---------------------------------------------------------------

PACED_SHARE_OF_CAPACITY = 0.5
PACED_MAX_SECONDS = 60


def outreach_benchmarks(
    *,
    appointments: int = _env_int("BENCH_OUTREACH_APPOINTMENTS", 100_000),
    sends: int = _env_int("BENCH_OUTREACH_SENDS", 2500),
    progress_factory=tqdm,
) -> dict:
    """Run the planning and dispatch benchmarks; a JSON-able dict of figures, baselines and checks."""
    results: dict = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {"appointments": appointments, "sends": sends, "worker_counts": list(WORKER_COUNTS)},
        "targets": {
            "plans_per_s": TARGET_PLANS_PER_S,
            "sends_per_s_2_workers": TARGET_SENDS_PER_S,
            "p99_lateness_s": TARGET_P99_LATENESS_S,
            "worker_pss_mb": TARGET_WORKER_MB,
        },
    }
    # One day ahead: nothing of the plan comes due while dispatch runs (see the module docstring).
    plan_now = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    with bench_environment() as bench:
        results["database"] = bench.database
        results["redis"] = "embedded" if bench.embedded_redis else "REDIS_URL"
        results["planning"] = measure_planning(bench, appointments=appointments, plan_now=plan_now,
                                               progress_factory=progress_factory)  # fmt: skip
        paced_most = sends // 2
        rows = choose_dispatch_rows(bench.database_url, len(WORKER_COUNTS) * (sends + paced_most))
        dispatch = {}
        for workers in WORKER_COUNTS:
            dispatch[f"workers_{workers}"] = _dispatch_with(
                bench, workers, rows[:sends], rows[sends : sends + paced_most], progress_factory=progress_factory
            )
            rows = rows[sends + paced_most :]
        results["dispatch"] = dispatch
        results["fake_twilio_rss_mb"] = bench.fake.rss_mb()
    results["meets_targets"] = _verdicts(results)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def _dispatch_with(
    bench: BenchEnvironment,
    workers: int,
    backlog_rows: list[DispatchRow],
    paced_rows: list[DispatchRow],
    *,
    progress_factory,
) -> dict:
    sends = len(backlog_rows)
    result: dict = {"workers": workers, "bare_client": bare_client(bench, concurrency=workers, sends=sends)}
    pool = WorkerPool(bench, workers)
    try:
        pool.start()
        due = datetime.now(UTC)
        backlog = dispatch_run(bench, backlog_rows, [due] * sends, desc=f"outreach: backlog, {workers} worker(s)",
                               timeout=max(180.0, sends / 10), progress_factory=progress_factory)  # fmt: skip
        backlog["ratio_to_bare"] = _ratio(backlog.get("sends_per_s"), result["bare_client"].get("sends_per_s"))
        result["backlog"] = backlog
        rate = max(1.0, PACED_SHARE_OF_CAPACITY * (backlog.get("sends_per_s") or 0))
        count = max(2, min(len(paced_rows), int(rate * PACED_MAX_SECONDS)))
        start = datetime.now(UTC) + timedelta(seconds=1)
        due_times = [start + timedelta(seconds=n / rate) for n in range(count)]
        paced = dispatch_run(bench, paced_rows[:count], due_times, desc=f"outreach: paced, {workers} worker(s)",
                             timeout=count / rate + 180, progress_factory=progress_factory)  # fmt: skip
        paced["offered_per_s"] = round(rate, 1)
        result["paced"] = paced
    finally:
        pool.stop()
    result["memory"] = [
        {"idle": idle, "peak": peak, "pss_ratio_to_idle": _ratio(peak["pss_mb"], idle["pss_mb"])}
        for idle, peak in zip(pool.idle, pool.peak, strict=True)
    ]
    bare_paced = bare_client(bench, concurrency=workers, sends=min(count, 300), rate=rate)
    result["paced"]["bare_client"] = bare_paced
    result["paced"]["p99_ratio_to_bare"] = _ratio(result["paced"]["lateness_s"]["p99"], bare_paced["lateness_s"]["p99"])
    return result


def _verdicts(results: dict) -> dict:
    planning = results["planning"]
    two = results["dispatch"].get("workers_2", {})
    lateness = [d["paced"]["lateness_s"]["p99"] for d in results["dispatch"].values()]
    peaks = [tree["peak"]["pss_mb"] for d in results["dispatch"].values() for tree in d["memory"]]
    return {
        "planning": planning["meets_target"],
        "dispatch_2_workers": (two.get("backlog", {}).get("sends_per_s") or 0) >= TARGET_SENDS_PER_S,
        "p99_lateness": all(p is not None and p < TARGET_P99_LATENESS_S for p in lateness),
        "worker_memory": all(mb < TARGET_WORKER_MB for mb in peaks),
        "no_errors": all(
            d[phase]["errors"] == 0 for d in results["dispatch"].values() for phase in ("backlog", "paced")
        ),
    }


def main() -> int:
    results = outreach_benchmarks()
    RESULTS_FILE.write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(outreach_markdown(results)))
    return 0


def outreach_markdown(results: dict) -> list[str]:
    """The results as Markdown lines: a heading "## Outreach" and tables."""
    planning, dispatch, targets = results["planning"], results["dispatch"], results["targets"]
    verdicts = results["meets_targets"]

    def met(name: str) -> str:
        return "met" if verdicts.get(name) else "**missed**"

    lines = [
        "## Outreach",
        "",
        f"Database: {results['database']}; Redis: {results.get('redis')}; "
        f"{planning['appointments']:,} appointments planned; "
        f"{results['settings']['sends']:,} sends per dispatch phase; rate limit off; "
        f"fake Twilio in its own process ({results.get('fake_twilio_rss_mb')} MB at the end).",
        "",
        f"### Planning (target: at least {targets['plans_per_s']:,} appointments/s: {met('planning')})",
        "",
        "| | seconds | appointments/s | ratio to pure planning |",
        "| --- | ---: | ---: | ---: |",
        f"| pure planning functions, facts in memory (baseline) | {planning['pure']['seconds']} "
        f"| {planning['pure']['appointments_per_s']:,.0f} | 1 |",
    ]
    for key, label in (("replan_initial", "`replan_all`, no plan yet (an import)"),
                       ("replan_unchanged", "`replan_all` again, nothing changed")):  # fmt: skip
        figure = planning[key]
        lines.append(
            f"| {label} | {figure['seconds']} | {figure['appointments_per_s']:,.0f} | {figure['ratio_to_pure']} |"
        )
    lines += [
        "",
        f"{planning['rows_planned']:,} rows planned; data creation (not timed) took {planning['data_creation_s']} s.",
        "",
        f"### Dispatch, backlog all due at once (target: at least {targets['sends_per_s_2_workers']} sends/s "
        f"with 2 workers: {met('dispatch_2_workers')})",
        "",
        "| workers | bare twilio client sends/s (baseline) | Relay sends/s | ratio | errors |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in dispatch.values():
        backlog = run["backlog"]
        lines.append(f"| {run['workers']} | {run['bare_client'].get('sends_per_s')} | {backlog.get('sends_per_s')} "
                     f"| {backlog.get('ratio_to_bare')} | {backlog['errors']} |")  # fmt: skip
    lines += [
        "",
        f"### Lateness after the due time, rows coming due at half that rate (target: p99 under "
        f"{targets['p99_lateness_s']} s: {met('p99_lateness')})",
        "",
        "| workers | due/s | p50 s | p99 s | max s | bare client p99 s (baseline) | p99 ratio | errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in dispatch.values():
        paced, late = run["paced"], run["paced"]["lateness_s"]
        lines.append(
            f"| {run['workers']} | {paced['offered_per_s']} | {late['p50']} | {late['p99']} | {late['max']} "
            f"| {paced['bare_client']['lateness_s']['p99']} | {paced['p99_ratio_to_bare']} | {paced['errors']} |"
        )
    lines += [
        "",
        f"### Worker memory, process tree (target: under {targets['worker_pss_mb']} MB: {met('worker_memory')})",
        "",
        "| workers | worker | processes | idle PSS MB (baseline) | peak PSS MB | ratio | peak sum of RSS MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in dispatch.values():
        for n, tree in enumerate(run["memory"], start=1):
            lines.append(
                f"| {run['workers']} | {n} | {tree['peak']['processes']} | {tree['idle']['pss_mb']} "
                f"| {tree['peak']['pss_mb']} | {tree['pss_ratio_to_idle']} | {tree['peak']['rss_sum_mb']} |"
            )
    lines += [
        "",
        "PSS divides pages shared by forked processes among them; the sum of RSS counts them once per process.",
        f"Every row sent exactly once, no refusal, no failed job: {'yes' if verdicts.get('no_errors') else '**no**'}.",
        "",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())

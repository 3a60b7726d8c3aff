"""The baseline for issue 14's turn figures: a default `rasa init` assistant, trained and served the standard way.

`rasa init --no-prompt` creates and trains Rasa's own example assistant; it
is trained once and kept under var/bench/baseline/<fingerprint>/, the
fingerprint being that of the files `rasa init` copies (and the Rasa version),
so a later run reuses it. It is served with `rasa run --enable-api`, one
Sanic worker, no endpoints (in-memory tracker and lock stores, no action
server), and driven on its REST channel with the NLU examples of its own
data/nlu.yml, every conversation new, BENCH_CONCURRENCY at once for
BENCH_SECONDS.

Against it, in the same run: our full signed SMS webhook turn, everyday
messages (bench.sms.SCRIPT), every conversation new, at the same
concurrency for the same time, the two taking turns in rounds
(`against_baseline`).

    python -m bench.baseline   # the comparison alone, on its own stack
"""

import hashlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import yaml

from bench.stack import Stack, _wait, free_port, running_stack, setting, using_stack
from relay.core.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from bench.sms import NewConversations

RASA = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
CACHE = PROJECT_ROOT / "var" / "bench" / "baseline"
# Turns per conversation on both sides: the length of bench.sms.SCRIPT.
CONVERSATION_TURNS = 7
# Bench patients 300-999 are the new conversations of the webhook side.
FIRST_PATIENT, MAX_PATIENTS = 300, 700


def _scaffold() -> Path:
    """Where `rasa init` copies its project from (inside the Rasa venv)."""
    code = "from rasa.cli.scaffold import scaffold_path; print(scaffold_path())"
    out = subprocess.run([str(RASA.with_name("python")), "-c", code], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256((PROJECT_ROOT / "bot" / "requirements.lock").read_bytes())  # the Rasa version
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def baseline_project() -> Path:
    """The `rasa init` project with its trained model, made on first use and cached by fingerprint."""
    project = CACHE / _fingerprint(_scaffold())
    if any(project.glob("models/*.tar.gz")):
        return project
    CACHE.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".init-", dir=CACHE))
    try:
        env = os.environ | {"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
        log = scratch.with_suffix(".log")
        with log.open("wb") as out:
            done = subprocess.run([str(RASA), "init", "--no-prompt", "--init-dir", str(scratch)], cwd=scratch,
                                  env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
        if done.returncode != 0 or not any(scratch.glob("models/*.tar.gz")):
            raise RuntimeError(f"`rasa init --no-prompt` failed; see {log}")
        log.unlink()
        shutil.rmtree(project, ignore_errors=True)
        scratch.rename(project)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return project


def nlu_examples(project: Path) -> list[str]:
    """The example messages of the project's data/nlu.yml, taken one intent at a time in turn."""
    data = yaml.safe_load((project / "data" / "nlu.yml").read_text())
    per_intent = [
        [line[2:].strip() for line in item["examples"].splitlines() if line.startswith("- ")]
        for item in data["nlu"]
        if "intent" in item
    ]
    return [text for group in itertools.zip_longest(*per_intent) for text in group if text]


@contextmanager
def baseline_server(project: Path, workdir: Path) -> Iterator[str]:
    """`rasa run --enable-api` on a free port, one Sanic worker, no endpoints; yields its URL."""
    port = free_port()
    env = os.environ | {"SANIC_WORKERS": "1", "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with (workdir / "baseline-rasa.log").open("wb") as out:
        process = subprocess.Popen(
            [str(RASA), "run", "--enable-api", "--model", str(project / "models"), "--interface", "127.0.0.1",
             "--port", str(port), "--credentials", str(project / "credentials.yml")],
            cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            _wait(lambda: bool(httpx.get(f"{url}/status").json().get("model_file")), 240, "baseline Rasa")
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


class RestChannel:
    """Posts a message to a Rasa server's stock REST channel.

    A 200 is a turn served, also when the toy assistant answers nothing (its
    stories do not cover every sequence of examples, and it then predicts
    action_listen): Rasa did the whole turn's work. Those are counted apart,
    in `silent`, rather than as errors, which would leave them out of the
    baseline's turns/s and flatter our ratio against it.
    """

    def __init__(self, rasa_url: str) -> None:
        self.url = f"{rasa_url}/webhooks/rest/webhook"
        self.client = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=64))
        self.silent = 0
        self._lock = threading.Lock()

    def __call__(self, sender: str, text: str) -> bool:
        response = self.client.post(self.url, json={"sender": sender, "message": text})
        if response.status_code == 200 and not response.json():
            with self._lock:
                self.silent += 1
        return response.status_code == 200


def _cycling(items: list[str], size: int) -> "itertools.cycle[tuple[str, ...]]":
    """Conversations of `size` messages taken in turn from `items` (wrapping round)."""
    looped = itertools.cycle(items)
    chunks = [tuple(next(looped) for _ in range(size)) for _ in range(len(items))]
    return itertools.cycle(chunks)


def baseline_sender(rasa_url: str, examples: list[str]) -> tuple["NewConversations", RestChannel]:
    """New conversations of the baseline's own examples on its REST channel (and the channel, which counts
    the turns it served with no reply)."""
    from bench.sms import NewConversations

    chunks = _cycling(examples, CONVERSATION_TURNS)
    lock = threading.Lock()

    def next_script() -> tuple[str, ...]:
        with lock:
            return next(chunks)

    channel = RestChannel(rasa_url)
    return NewConversations(channel, fresh=lambda: uuid.uuid4().hex, scripts=next_script), channel


class WebhookConversations:
    """New conversations of bench patients on our signed SMS webhook, everyday messages (bench.sms.SCRIPT)."""

    def __init__(self, stack: Stack, *, users: int, seconds: float) -> None:
        from bench.sms import SCRIPT, NewConversations, Webhook, make_bench_patients
        from relay.core.settings import get_settings

        # Enough patients for a fast run (about 60 turns/s); past them, conversations are reused (reported).
        count = min(MAX_PATIENTS, users + int(seconds * 60 / len(SCRIPT)))
        self._phones = iter(make_bench_patients(count, first=FIRST_PATIENT))
        self._reused = itertools.cycle(make_bench_patients(users, first=FIRST_PATIENT))
        self._lock = threading.Lock()
        self.reused = 0
        webhook = Webhook(stack.api_url, get_settings().twilio_auth_token.get_secret_value())
        self.sender = NewConversations(webhook, fresh=self._fresh)

    def _fresh(self) -> str:
        with self._lock:
            phone = next(self._phones, None)
            if phone is None:
                self.reused += 1
                return next(self._reused)
            return phone


def drive_webhook(stack: Stack, *, users: int, seconds: float) -> dict:
    """Our signed SMS webhook, everyday messages (bench.sms.SCRIPT), a new patient's conversation per cycle."""
    from bench.sms import drive

    ours = WebhookConversations(stack, users=users, seconds=seconds)
    run = drive(ours.sender, [f"user-{n}" for n in range(users)], seconds=seconds)
    return run.summary() | {"conversations": ours.sender.conversations, "conversations_reused": ours.reused}


# bot/ted_cache.py's log line, counts so far in one Rasa worker.
TED_CACHE_LINE = re.compile(r"TED prediction cache \(pid (\d+)\): hits=(\d+) misses=(\d+) kept=(\d+)")


def ted_cache_stats(workdir: Path) -> dict | None:
    """The TED prediction cache's hits and misses as its workers last logged them (None: it never logged)."""
    latest: dict[tuple[str, str], tuple[int, int, int]] = {}
    for log in sorted(workdir.glob("rasa*.log")):
        for match in TED_CACHE_LINE.finditer(log.read_text(errors="replace")):
            latest[(log.name, match[1])] = (int(match[2]), int(match[3]), int(match[4]))
    if not latest:
        return None
    hits, misses = sum(v[0] for v in latest.values()), sum(v[1] for v in latest.values())
    return {"hits": hits, "misses": misses, "kept": sum(v[2] for v in latest.values()),
            "hit_rate": round(hits / (hits + misses), 3), "workers": len(latest)}  # fmt: skip


def against_baseline(stack: Stack, *, users: int, seconds: float, rounds: int | None = None) -> dict:
    """Turns/s and p95 of our webhook turn against the `rasa init` baseline, taking turns.

    Each side gets `seconds` in all, in `rounds` rounds (BENCH_BASELINE_ROUNDS,
    default 3) that alternate baseline, ours, baseline, ours, ...: the
    machine's speed drifts (in one run the same baseline gave 49.9 turns/s on
    the first stack and 58.0 on the second), and alternating puts both sides
    under the same drift instead of one side under each.
    """
    from bench.sms import Run, drive

    rounds = max(1, rounds or int(setting("BENCH_BASELINE_ROUNDS", 3)))
    project = baseline_project()
    examples = nlu_examples(project)
    users_ids = [f"user-{n}" for n in range(users)]
    runs: dict[str, list[Run]] = {"baseline": [], "relay_webhook": []}
    with baseline_server(project, stack.workdir) as url:
        base, channel = baseline_sender(url, examples)
        ours = WebhookConversations(stack, users=users, seconds=seconds)
        for _ in range(rounds):
            runs["baseline"].append(drive(base, users_ids, seconds=seconds / rounds))
            runs["relay_webhook"].append(drive(ours.sender, users_ids, seconds=seconds / rounds))
    baseline, mine = (Run([ms for run in side for ms in run.latencies_ms], sum(run.errors for run in side),
                          sum(run.seconds for run in side)).summary() for side in runs.values())  # fmt: skip
    baseline |= {"conversations": base.conversations, "silent_answers": channel.silent, "messages": len(examples),
                 "model": project.name}  # fmt: skip
    mine |= {"conversations": ours.sender.conversations, "conversations_reused": ours.reused}
    rounds_turns_per_s = {name: [round(run.turns / run.seconds, 2) for run in side] for name, side in runs.items()}
    return {
        "concurrency": users,
        "seconds": seconds,
        "rounds": rounds,
        "rounds_turns_per_s": rounds_turns_per_s,
        "baseline": baseline,
        "relay_webhook": mine,
        "ted_cache": ted_cache_stats(stack.workdir),
        "throughput_ratio": _ratio(mine["turns_per_s"], baseline["turns_per_s"]),
        "p95_ratio": _ratio(mine["p95_ms"], baseline["p95_ms"]),
        "p50_ratio": _ratio(mine["p50_ms"], baseline["p50_ms"]),
    }


def _ratio(ours: float | None, base: float | None) -> float | None:
    return round(ours / base, 3) if ours is not None and base else None


def baseline_markdown(figures: dict) -> list[str]:
    b, o = figures["baseline"], figures["relay_webhook"]
    return [
        f"## SMS turns against a default `rasa init` assistant ({figures['concurrency']} concurrent, "
        f"{figures['seconds']:.0f} s each, new conversations)",
        "",
        "| | turns/s | turns | errors | p50 ms | p95 ms | conversations |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| baseline: `rasa init`, REST channel, its NLU examples | {b['turns_per_s']} | {b['turns']} | "
        f"{b['errors']} | {b['p50_ms']} | {b['p95_ms']} | {b['conversations']} |",
        f"| Relay: signed SMS webhook, everyday messages | {o['turns_per_s']} | {o['turns']} | {o['errors']} | "
        f"{o['p50_ms']} | {o['p95_ms']} | {o['conversations']} |",
        f"| ratio (Relay / baseline) | {figures['throughput_ratio']} | | | {figures['p50_ratio']} | "
        f"{figures['p95_ratio']} | |",
        "",
        "The baseline: Rasa's own example assistant as `rasa init --no-prompt` makes and trains it, served by "
        "`rasa run --enable-api` with one Sanic worker and no endpoints (in-memory trackers, no action server); "
        f"each conversation {CONVERSATION_TURNS} of its {b['messages']} NLU examples. Relay: the whole stack "
        "(signature, storage, pre-model checks, Rasa with our model, the action server, SQL tracker store, "
        "Redis lock store, TwiML), each conversation a new bench patient running bench.sms.SCRIPT once. "
        f"The baseline's turns include {b.get('silent_answers', 0)} that it served with no reply (its stories do "
        "not cover every order of its examples): Rasa did the work, so they count.",
        *_rounds_text(figures),
        *_ted_cache_text(figures.get("ted_cache")),
    ]


def _rounds_text(figures: dict) -> list[str]:
    by_round = figures.get("rounds_turns_per_s")
    if not by_round:
        return []
    return [
        "",
        f"Each side had its {figures['seconds']:.0f} s in {figures['rounds']} rounds taking turns (baseline "
        "first), so that both run under the same drift of the machine's speed. Turns/s by round: baseline "
        f"{', '.join(map(str, by_round['baseline']))}; Relay {', '.join(map(str, by_round['relay_webhook']))}.",
    ]


def _ted_cache_text(stats: dict | None) -> list[str]:
    if not stats:
        return []
    return [
        "",
        f"TED's prediction cache (bot/ted_cache.py) on this stack so far, as its {stats['workers']} Rasa "
        f"workers last logged it: {stats['hits']} hits, {stats['misses']} misses (hit rate "
        f"{stats['hit_rate']}), {stats['kept']} predictions kept. Every conversation here runs the same "
        "script, so a clinic's varied conversations would hit less often.",
    ]


def main() -> int:
    users, seconds = int(setting("BENCH_CONCURRENCY", 16)), setting("BENCH_SECONDS", 60)
    with running_stack() as stack, using_stack(stack):
        figures = against_baseline(stack, users=users, seconds=seconds)
    print("\n".join(baseline_markdown(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

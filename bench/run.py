"""`make bench`: run every benchmark against the real stack and write bench/results.{json,md}.

Latency: our signed SMS and voice webhook turns against bare Rasa round trips
of the same words on the same model, action server and database, at 1 and at
BENCH_CONCURRENCY conversations, on conversations of their own with the same
history. At one conversation the two sides send each message back to back
(bench.sms.drive_paired), for BENCH_C1_CYCLES cycles; at BENCH_CONCURRENCY
they take turns cycle by cycle (bench.sms.drive_interleaved). Either way,
drift in Rasa's own speed during the run lands on both.
Throughput: each side for BENCH_SECONDS at BENCH_CONCURRENCY, one after the other.
Outreach (bench.outreach): planning and dispatch, with their own baselines;
BENCH_OUTREACH_APPOINTMENTS and BENCH_OUTREACH_SENDS size it.
FHIR import (bench.import_fhir): a Bundle's first import and re-import through
the import core, against the pure parse of the same Bundle with the FHIR
library; BENCH_FHIR_PATIENTS sizes it.
Turn speed (issue 14, bench.turn_speed): SMS turns against a default `rasa
init` assistant (bench.baseline), voice against SMS, a long conversation
(bench.long_conversation), a burst past the SMS deadline (bench.burst) and
memory, on the main stack and again on the other database (BENCH_DATABASES,
BENCH_POSTGRES_URL); where the time goes inside Rasa and the action server,
with py-spy, and the action server round trips per turn (bench.profile_turn,
BENCH_PROFILE_SECONDS); two Rasa replicas against one (bench.replicas).

Environment: BENCH_SECONDS (throughput window, default 60), BENCH_CYCLES
(script cycles per conversation for latency, default 4), BENCH_C1_CYCLES
(the same at one conversation, default 4x BENCH_CYCLES), BENCH_CONCURRENCY
(default 16), BENCH_OUT (where results go; default bench/). DATABASE_URL /
REDIS_URL as for the app (default: a temporary SQLite file and an embedded
Redis). The turn-speed parts' own settings are in bench/turn_speed.py;
BENCH_PROFILE_SECONDS (default 30) is py-spy's window.

Each part runs alone on a stack of its own: python -m bench.baseline,
bench.long_conversation, bench.burst, bench.profile_turn, bench.replicas,
bench.turn_speed (all but the profile and replicas), bench.outreach. A quick
check of the whole: BENCH_SECONDS=10 BENCH_CYCLES=1 BENCH_CONCURRENCY=4
BENCH_PROFILE_SECONDS=10 BENCH_LONG_TURNS=30 BENCH_BURST_SECONDS=20
BENCH_BURST_CONCURRENCY=8 BENCH_DATABASES=sqlite BENCH_OUTREACH_APPOINTMENTS=500
BENCH_OUTREACH_SENDS=50 BENCH_FHIR_PATIENTS=50 BENCH_OUT=/tmp/bench python -m bench.run
"""

import json
import os
import platform
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from bench.stack import running_stack, setting, using_stack

if TYPE_CHECKING:
    from bench.sms import Run

RESULTS_DIR = Path(os.environ.get("BENCH_OUT") or Path(__file__).resolve().parent)


def machine() -> dict:
    import psutil

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def ratio(ours: float, base: float) -> float | None:
    return round(ours / base, 3) if base else None


def added(ours: dict, base: dict, paired: "Run | None" = None) -> dict:
    """What our layers add to a bare Rasa turn, in milliseconds and as ratios.

    With `paired` (the per-turn differences at one conversation), also their
    median and 95th percentile: what a turn costs more, pair by pair.
    """
    figures = {
        "p50_ms": round(ours["p50_ms"] - base["p50_ms"], 1),
        "p95_ms": round(ours["p95_ms"] - base["p95_ms"], 1),
        "p95_ratio": ratio(ours["p95_ms"], base["p95_ms"]),
        "p50_ratio": ratio(ours["p50_ms"], base["p50_ms"]),
    }
    if paired is not None:
        figures |= {"paired_p50_ms": round(paired.percentile(50), 1), "paired_p95_ms": round(paired.percentile(95), 1),
                    "pairs": paired.turns}  # fmt: skip
    return figures


def survive(part: Callable[[], dict | None]) -> dict | None:
    """Run a part; if it fails, its section says how (the traceback goes to stderr)."""
    try:
        return part()
    except Exception as exc:
        traceback.print_exc()
        return {"skipped": f"failed: {type(exc).__name__}: {exc}"}


def cycles_at(users: int, cycles: int) -> int:
    """Script cycles per conversation: `cycles`, but at one conversation BENCH_C1_CYCLES (default 4x `cycles`).

    One conversation gives a sample a sixteenth the size of sixteen; with 56
    turns, a p95 is the third-slowest turn, and the p95 ratio at one
    conversation went from 1.27 to 1.49 between two runs of the same webhook
    code, on a few slow turns (both sides have turns of 400 to 700 ms more
    than usual, now and then).
    """
    return int(os.environ.get("BENCH_C1_CYCLES", str(4 * cycles))) if users == 1 else cycles


def main() -> int:
    seconds = float(os.environ.get("BENCH_SECONDS", "60"))
    cycles = int(os.environ.get("BENCH_CYCLES", "4"))
    concurrency = int(os.environ.get("BENCH_CONCURRENCY", "16"))
    results: dict = {"started": datetime.now(UTC).isoformat(), "machine": machine(),
                     "settings": {"seconds": seconds, "cycles": cycles, "cycles_at_1": cycles_at(1, cycles),
                                  "concurrency": concurrency}}  # fmt: skip
    with running_stack(count_actions=True) as stack, using_stack(stack):
        from bench.sms import (
            SCRIPT,
            BareRasa,
            Webhook,
            conversation_ids,
            drive,
            drive_interleaved,
            drive_paired,
            make_bench_patients,
            release_handoffs,
        )
        from bench.voice import BareVoiceRasa, VoiceWebhook
        from relay.core.settings import get_settings

        settings = get_settings()
        results["database"] = settings.database_url.split(":", 1)[0]
        auth_token = settings.twilio_auth_token.get_secret_value()
        # Each side gets its own conversations with the same history: Rasa's cost
        # per turn grows with the tracker, so sharing them would make whichever
        # side runs second look slower.
        phones = make_bench_patients(2 * concurrency)
        bare_phones, our_phones = phones[:concurrency], phones[concurrency:]
        sms, voice = Webhook(stack.api_url, auth_token), VoiceWebhook(stack.api_url, auth_token)
        bare_sms, bare_voice = BareRasa(stack.rasa_url), BareVoiceRasa(stack.rasa_url)
        drive(sms, phones, cycles=1)  # warm-up; opens every conversation
        bare_sms.senders = bare_voice.senders = conversation_ids(bare_phones)
        results["memory_idle_mb"] = stack.rss_mb()
        handoffs: dict[str, int] = {"warm_up": release_handoffs(phones)}

        def latency(kind: str, bare: Callable[[str, str], bool], ours: Callable[[str, str], bool]) -> dict:
            figures: dict[str, dict] = {}
            turns_per_cycle = len(getattr(ours, "script", SCRIPT))
            for users in (1, concurrency):
                paired = None
                with tqdm(total=2 * users * cycles_at(users, cycles) * turns_per_cycle, desc=f"{kind} latency x{users}",
                          unit="turn") as bar:  # fmt: skip
                    if users == 1:
                        pair = {"bare_rasa": (bare, bare_phones[0]), "relay_webhook": (ours, our_phones[0])}
                        runs, paired = drive_paired(pair, cycles=cycles_at(1, cycles), progress=bar.update)
                    else:
                        sides = {"bare_rasa": (bare, bare_phones[:users]), "relay_webhook": (ours, our_phones[:users])}
                        runs = drive_interleaved(sides, cycles=cycles, progress=bar.update)
                figures |= {f"{name}_c{users}": run.summary() for name, run in runs.items()}
                handoffs[f"{kind}_latency_c{users}"] = release_handoffs(phones)
                figures[f"added_c{users}"] = added(figures[f"relay_webhook_c{users}"], figures[f"bare_rasa_c{users}"],
                                                   paired)  # fmt: skip
            return figures

        results["sms_latency"] = latency("sms", bare_sms, sms)
        results["voice_latency"] = latency("voice", bare_voice, voice)

        summaries: dict[str, dict] = {}
        for name, send, side_phones in (("bare_rasa", bare_sms, bare_phones), ("relay_webhook", sms, our_phones)):
            with tqdm(total=int(seconds), desc=f"throughput {name} {seconds:.0f}s", unit="s") as bar:
                stop = threading.Event()

                def tick(stop: threading.Event = stop, bar: tqdm = bar) -> None:
                    while not stop.wait(1):
                        bar.update(1)

                ticker = threading.Thread(target=tick, daemon=True)
                ticker.start()
                summaries[name] = drive(send, side_phones, seconds=seconds).summary()
                stop.set()
            handoffs[f"throughput_{name}"] = release_handoffs(phones)
        ratio_to_bare = ratio(summaries["relay_webhook"]["turns_per_s"], summaries["bare_rasa"]["turns_per_s"])
        results["sms_throughput"] = summaries | {"ratio": ratio_to_bare}
        # Handoffs opened during each phase (released before the next): the
        # bot's misunderstandings under the script, identical for both sides.
        results["handoffs_opened"] = handoffs
        results["memory_after_load_mb"] = stack.rss_mb()

        from bench.profile import profile_turns

        results["sms_profile_ms_per_turn"] = profile_turns(
            base_url=settings.base_url, auth_token=auth_token, phone=our_phones[0]
        )
        from bench.profile_turn import spy_on_turns
        from bench.turn_speed import turn_speed

        results["profile"] = spy_on_turns(stack, users=concurrency, seconds=setting("BENCH_PROFILE_SECONDS", 30))
        results["turn_speed"] = turn_speed(stack)
        main_database = settings.database_url
    from bench.replicas import compare_replicas
    from bench.turn_speed import on_other_database

    # Stacks of their own: one failing to start costs its section, not the figures above.
    results["turn_speed_other_database"] = survive(lambda: on_other_database(main_database))
    one_replica = {"replicas": 1, "throughput": results["turn_speed"]["baseline"]["relay_webhook"],
                   "memory": results["turn_speed"]["memory"], "shape": results["turn_speed"]["shape"]}  # fmt: skip
    results["replicas"] = survive(lambda: compare_replicas(users=concurrency, seconds=seconds, one=one_replica))
    # After the conversation stack is down, so the two do not share the cores.
    from bench.outreach import outreach_benchmarks

    results["outreach"] = outreach_benchmarks()
    from bench.import_fhir import import_benchmarks

    results["fhir_import"] = import_benchmarks()
    results["finished"] = datetime.now(UTC).isoformat()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "results.json").write_text(json.dumps(results, indent=2))
    (RESULTS_DIR / "results.md").write_text(markdown(results))
    print(markdown(results))
    return 0


def outreach_markdown(outreach: dict) -> list[str]:
    from bench.outreach import outreach_markdown as render

    return render(outreach)


def fhir_import_markdown(figures: dict) -> list[str]:
    from bench.import_fhir import import_markdown

    return import_markdown(figures)


def turn_speed_sections(results: dict) -> list[str]:
    from bench.profile_turn import profile_markdown
    from bench.replicas import replicas_markdown
    from bench.turn_speed import turn_speed_markdown

    lines = [*turn_speed_markdown(results["turn_speed"]), ""]
    lines += [*profile_markdown(results["profile"]["py_spy"], results["profile"]["round_trips"]), ""]
    if results.get("turn_speed_other_database"):
        lines += [*turn_speed_markdown(results["turn_speed_other_database"]), ""]
    lines += replicas_markdown(results["replicas"])
    return lines


def latency_table(title: str, figures: dict, concurrency: int) -> list[str]:
    lines = [
        f"## {title}",
        "",
        "| concurrency | turns per side | bare Rasa p50 / p95 / p99 | Relay webhook p50 / p95 / p99 "
        "| added p50 | added p95 | p95 ratio | added per pair p50 / p95 |",
        "| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for users in (1, concurrency):
        b, o, a = figures[f"bare_rasa_c{users}"], figures[f"relay_webhook_c{users}"], figures[f"added_c{users}"]
        paired = f"{a['paired_p50_ms']} / {a['paired_p95_ms']}" if "pairs" in a else "(not paired)"
        lines.append(
            f"| {users} | {o['turns']} | {b['p50_ms']} / {b['p95_ms']} / {b['p99_ms']} "
            f"| {o['p50_ms']} / {o['p95_ms']} / {o['p99_ms']} "
            f"| {a['p50_ms']} | {a['p95_ms']} | {a['p95_ratio']} | {paired} |"
        )
    lines += ["", "Added p50 and p95: our percentile minus bare Rasa's. Added per pair (one conversation): the same "
              "message on both sides back to back, our time minus bare Rasa's, pair by pair."]  # fmt: skip
    return lines


def markdown(results: dict) -> str:
    m, thr = results["machine"], results["sms_throughput"]
    c = results["settings"]["concurrency"]
    lines = [
        f"# Relay benchmarks ({results['started'][:19]}Z)",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, Python {m['python']}; "
        f"database: {results['database']}.",
        "",
        *latency_table(
            "SMS turn latency (ms): our signed webhook turn vs a bare Rasa round trip of the same messages",
            results["sms_latency"],
            c,
        ),
        "",
        *latency_table(
            "Voice turn latency (ms): our signed `<Gather>` turn vs a bare Rasa round trip on the voice channel",
            results["voice_latency"],
            c,
        ),
    ]
    lines += [
        "",
        f"## Throughput over {results['settings']['seconds']:.0f} s at concurrency {c}",
        "",
        "| | turns/s | turns | errors |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {label} | {thr[side]['turns_per_s']} | {thr[side]['turns']} | {thr[side]['errors']} |"
            for label, side in (("bare Rasa", "bare_rasa"), ("Relay webhook", "relay_webhook"))
        ),
        f"| ratio | {thr['ratio']} | | |",
        "",
        "## Where a webhook turn's time goes (ms per turn, cProfile, in-process)",
        "",
        "| layer | ms |",
        "| --- | ---: |",
        *[f"| {k} | {v} |" for k, v in results["sms_profile_ms_per_turn"].items()],
        "",
        "## Resident memory (MB, process and children)",
        "",
        "| process | idle | after load |",
        "| --- | ---: | ---: |",
        *[f"| {k} | {results['memory_idle_mb'].get(k)} | {v} |" for k, v in results["memory_after_load_mb"].items()],
        "",
        "The worker's load here is only the demo clinic's due reminders; its peak while dispatching is under Outreach.",
        "",
        *turn_speed_sections(results),
        "",
        *outreach_markdown(results["outreach"]),
        "",
        *fhir_import_markdown(results["fhir_import"]),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""Where a turn's time goes inside Rasa and the action server (py-spy), and the action server calls per turn.

While BENCH_CONCURRENCY conversations text the signed SMS webhook for
BENCH_PROFILE_SECONDS (default 30), `py-spy record --format raw
--subprocesses` samples every Rasa and action server process (Sanic's
workers included). Each sample is put in one layer: the first of the
layers below, in their order, that has a frame on the sample's stack, so
that, say, jsonschema called from the action-server call counts as
validation, and SQL under the tracker store as the tracker store. py-spy
leaves out samples it sees idle; the waits it does not (uvloop's loop in C,
Sanic's process manager) are left out here by their innermost frame, and
what stays is running code or calls that block (a SQLite commit in Rasa's
event loop). py-spy needs ptrace (root, or CAP_SYS_PTRACE); without it the
profile says so and the rest goes on.

The round trips: the action servers append every action they run to a file
(bench/action_calls/sitecustomize.py, names and counts only); one
conversation runs bench.sms.SCRIPT twice, turn by turn (first unverified,
then verified), and the calls each turn made are listed with how many
returned no events (nothing for Rasa to apply: a read whose answer changed
nothing).

    python -m bench.profile_turn
"""

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.stack import Stack, running_stack, setting, using_stack
from relay.core.settings import PROJECT_ROOT

# (layer, file markers): a marker matches a frame whose file is, or lies under, it.
RASA_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("validation (jsonschema)", ("jsonschema/",)),
    ("lock store (lock_store.py, redis)", ("rasa/core/lock_store.py", "bot/lock_store.py", "redis/")),
    ("tracker store (tracker_store.py, SQL)", ("rasa/core/tracker_store.py", "bot/tracker_store.py", "sqlalchemy/",
                                               "psycopg2/", "sqlite3/")),
    ("NLU (rasa/nlu: tokenizers, featurizers, DIET)", ("rasa/nlu/", "bot/faq_selector.py")),
    ("policies (rasa/core/policies, featurizers)", ("rasa/core/policies/", "rasa/core/featurizers/",
                                                     "bot/ted_cache.py")),
    ("action server calls, actions (rasa/core/actions, aiohttp)", ("rasa/core/actions/", "rasa/utils/endpoints.py",
                                                                   "aiohttp/")),
    ("tracker and events in memory", ("rasa/shared/core/trackers.py", "rasa/shared/core/events.py")),
    ("message processor, graph runner (processor.py, rasa/engine, dask)", ("rasa/core/processor.py", "rasa/engine/",
                                                                          "dask/", "rasa/core/agent.py")),
    ("Sanic/HTTP and channels", ("sanic/", "sanic_routing/", "rasa/server.py", "rasa/core/channels/",
                                 "bot/channels.py", "asyncio/", "uvloop/", "httptools/")),
)  # fmt: skip
ACTION_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("database (SQLAlchemy, driver)", ("sqlalchemy/", "psycopg/", "psycopg_binary/", "sqlite3/")),
    ("relay domain (relay/)", ("relay/",)),
    ("our actions (bot/actions)", ("bot/actions/",)),
    ("rasa_sdk/Sanic", ("rasa_sdk/", "sanic/", "sanic_routing/", "asyncio/", "uvloop/", "httptools/")),
)
OTHER = "other"
IDLE = "idle (left out)"
# Samples whose innermost Python frame is one of these are waits py-spy takes for work: the event loop
# in C (uvloop) under Sanic's runner, a selector, Sanic's process manager watching its workers.
IDLE_LEAVES = ("sanic/server/runners.py", "selectors.py", "multiprocessing/popen_fork.py",
               "multiprocessing/connection.py", "threading.py")  # fmt: skip
# bench.sms.SCRIPT's turns by what they are (the texts themselves stay out of the results).
TURN_TYPES = ("greeting", "FAQ (parking)", "appointment status", "date of birth", "reschedule request",
              "time request", "no (keep the booking)")  # fmt: skip
LOAD_PATIENTS = (150, 40)  # bench patients 150-189 for the load, 190 for the round trips
FIRST_PATIENT = 190
# py-spy's raw output of the last run, for a flame graph (flamegraph.pl, speedscope, inferno).
RAW_DIR = PROJECT_ROOT / "var" / "bench" / "py-spy"


def py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


# The frames --subprocesses and --threads put at the root: 'process 12:"cmdline"', 'thread (0x7f..)'.
_PROCESS_OR_THREAD = re.compile(r'^(process \d+:"|thread \(0x[0-9a-f]+\)$)')


def _frame_file(frame: str) -> str:
    """'function (path/to/file.py:12)' -> 'path/to/file.py'."""
    inner = frame.rpartition(" (")[2].rstrip(")")
    return inner.rpartition(":")[0] or inner


def _matches(path: str, marker: str) -> bool:
    return path.startswith(marker) or f"/{marker}" in path


def layer_of(frames: list[str], layers: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    files = [_frame_file(f) for f in frames if not _PROCESS_OR_THREAD.match(f)]
    for name, markers in layers:
        if any(_matches(path, marker) for path in files for marker in markers):
            return name
    return OTHER


def samples_by_layer(raw: str, layers: tuple[tuple[str, tuple[str, ...]], ...],
                     leaves: dict[str, Counter[str]] | None = None) -> Counter[str]:  # fmt: skip
    """py-spy's raw (collapsed) output: one 'frame;frame;...;frame count' line per distinct stack, root first.

    With `leaves`, also counts each layer's innermost frames (what its samples were doing).
    """
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = stack.split(";")
            idle = any(_matches(_frame_file(frames[-1]), leaf) for leaf in IDLE_LEAVES)
            layer = IDLE if idle else layer_of(frames, layers)
            counts[layer] += int(count)
            if leaves is not None:
                leaves.setdefault(layer, Counter())[frames[-1]] += int(count)
    return counts


def shares(counts: Counter[str], layers: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, dict]:
    """Samples and % of the busy ones per layer; the idle ones are counted, in no percentage."""
    total = sum(counts.values()) - counts[IDLE]
    names = [name for name, _ in layers] + [OTHER]
    table = {n: {"samples": counts[n], "percent": round(100 * counts[n] / total, 1) if total else 0.0} for n in names}
    return table | {IDLE: {"samples": counts[IDLE], "percent": None}}


def record(stack: Stack, *, users: int, seconds: float) -> dict:
    """py-spy on every Rasa and action server process while `users` conversations text the webhook."""
    from bench.sms import Webhook, drive, make_bench_patients, release_handoffs
    from relay.core.settings import get_settings

    spy = py_spy()
    if spy is None:
        return {"error": "py-spy is not installed (it is in the dev dependencies: run `make setup`)"}
    first, most = LOAD_PATIENTS
    phones = make_bench_patients(min(users, most), first=first)
    targets = {f"{kind}-{pid}": (kind, pid) for kind in ("rasa", "actions") for pid in stack.pids(kind)}
    spies = {}
    for name, (_kind, pid) in targets.items():
        out = stack.workdir / f"py-spy-{name}.txt"
        spies[name] = (out, subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--output", str(out),
             "--rate", "100", "--duration", str(int(seconds)), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        ))  # fmt: skip
    time.sleep(1)  # py-spy attaches
    webhook = Webhook(stack.api_url, get_settings().twilio_auth_token.get_secret_value())
    load = drive(webhook, phones, seconds=seconds - 1).summary()
    release_handoffs(phones)
    rasa: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    leaves: dict[str, dict[str, Counter[str]]] = {"rasa": {}, "actions": {}}
    errors = []
    RAW_DIR.mkdir(parents=True, exist_ok=True)
    for name, (out, process) in spies.items():
        _, stderr = process.communicate(timeout=seconds + 60)
        if process.returncode != 0 or not out.exists():
            errors.append(f"{name}: py-spy could not sample it ({_last_line(stderr)}); it needs ptrace: run as "
                          "root, or give it CAP_SYS_PTRACE, or set kernel.yama.ptrace_scope=0")  # fmt: skip
            continue
        kind = targets[name][0]
        raw = out.read_text()
        shutil.copy(out, RAW_DIR / out.name)
        if kind == "rasa":
            rasa += samples_by_layer(raw, RASA_LAYERS, leaves["rasa"])
        else:
            actions += samples_by_layer(raw, ACTION_LAYERS, leaves["actions"])
    return {
        "seconds": seconds,
        "concurrency": users,
        "load": load,
        "rasa": shares(rasa, RASA_LAYERS),
        "actions": shares(actions, ACTION_LAYERS),
        # What each layer's samples were doing: its five commonest innermost frames.
        "top_leaves": {
            kind: {layer: dict(c.most_common(5)) for layer, c in by_layer.items()} for kind, by_layer in leaves.items()
        },
        "raw_files": str(RAW_DIR),
        "errors": errors,
    }


def _last_line(stderr: bytes | None) -> str:
    lines = (stderr or b"").decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


def round_trips(stack: Stack) -> dict:
    """Action server calls per turn of bench.sms.SCRIPT, once unverified and once verified."""
    from bench.sms import SCRIPT, Webhook, make_bench_patients, release_handoffs
    from relay.core.settings import get_settings

    log = stack.action_calls_log
    if log is None:
        return {"error": "the stack was started without count_actions"}
    phone = make_bench_patients(1, first=FIRST_PATIENT)[0]
    webhook = Webhook(stack.api_url, get_settings().twilio_auth_token.get_secret_value())
    turns: list[dict] = []
    for cycle in ("first cycle (not verified yet)", "second cycle (verified)"):
        for label, text in zip(TURN_TYPES, SCRIPT, strict=True):
            seen = _lines(log)
            answered = webhook(phone, text)  # each call is logged before Rasa has its answer
            calls = [line.split("\t") for line in _lines(log)[len(seen) :]]
            turns.append({"cycle": cycle, "turn": label, "answered": answered, "calls": len(calls),
                          "actions": [c[0] for c in calls],
                          "changed_nothing": sum(1 for c in calls if _changed_nothing(c))})  # fmt: skip
    release_handoffs([phone])
    per_action: dict[str, dict[str, float]] = {}
    for turn in turns:
        for name in turn["actions"]:
            per_action.setdefault(name, {"calls": 0})["calls"] += 1
    calls_log = [line.split("\t") for line in _lines(log)]
    for name, figures in per_action.items():
        mine = [c for c in calls_log if c[0] == name]
        figures["calls_all_run"] = len(mine)
        figures["share_changing_nothing_all_run"] = round(sum(1 for c in mine if _changed_nothing(c)) / len(mine), 2)
    return {"turns": turns, "per_action": per_action,
            "calls_per_turn": round(sum(t["calls"] for t in turns) / len(turns), 2)}  # fmt: skip


def _changed_nothing(call: list[str]) -> bool:
    """A logged call (name, events, responses) that returned neither events nor messages."""
    return call[1:3] == ["0", "0"]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def profile_markdown(profile: dict, trips: dict) -> list[str]:
    lines = [f"## Where a turn's time goes inside Rasa and the action server (py-spy, {profile.get('concurrency')} "
             f"conversations, {profile.get('seconds', 0):.0f} s)", ""]  # fmt: skip
    if "error" in profile:
        lines += [f"Not profiled: {profile['error']}.", ""]
    else:
        load = profile["load"]
        lines += [f"Load while sampling: {load['turns']} webhook turns, {load['turns_per_s']} turns/s, "
                  f"p50 {load['p50_ms']} ms.", ""]  # fmt: skip
        for title, key in (("Rasa server", "rasa"), ("Action server", "actions")):
            busy = {name: v for name, v in profile[key].items() if name != IDLE}
            total = sum(v["samples"] for v in busy.values())
            lines += [f"| {title} layer ({total} busy samples) | % of samples |", "| --- | ---: |"]
            lines += [f"| {name} | {v['percent']} |" for name, v in busy.items()]
            lines += [f"| (idle samples left out: {profile[key][IDLE]['samples']}) | |", ""]
        lines += [f"py-spy: {e}" for e in profile["errors"]]
        lines += ["Busy samples: running, or blocked in a call py-spy does not take for idle (a SQLite commit, "
                  "a Redis read inside the event loop: time the loop is held). py-spy leaves out threads it sees "
                  "waiting, and the waits it takes for work (uvloop's loop in C, selectors, Sanic's process "
                  "manager) are left out here. Each busy sample goes to the first layer in the table's order with "
                  "a frame on its stack; results.json lists each layer's commonest innermost frames. Raw stacks: "
                  f"{profile['raw_files']}.", ""]  # fmt: skip
    if "error" in trips:
        return [*lines, f"Round trips not counted: {trips['error']}."]
    lines += [f"### Action server round trips per turn ({trips['calls_per_turn']} per turn on average)", "",
              "| cycle | turn | calls | changed nothing | actions |",
              "| --- | --- | ---: | ---: | --- |"]  # fmt: skip
    lines += [f"| {t['cycle']} | {t['turn']} | {t['calls']} | {t['changed_nothing']} | {', '.join(t['actions'])} |"
              for t in trips["turns"]]  # fmt: skip
    lines += ["", "| action | calls in these turns | calls in the whole run | share that changed nothing |",
              "| --- | ---: | ---: | ---: |"]  # fmt: skip
    lines += [f"| {name} | {v['calls']} | {v['calls_all_run']} | {v['share_changing_nothing_all_run']} |"
              for name, v in sorted(trips["per_action"].items(), key=lambda kv: -kv[1]["calls"])]  # fmt: skip
    lines += ["", "A call that changed nothing returned no events and no messages: where that is the rule, the "
              "round trip only read, and could be merged into another or avoided. The whole run: every call the "
              "action servers logged on this stack (the profile's load included)."]  # fmt: skip
    return lines


def spy_on_turns(stack: Stack, *, users: int, seconds: float) -> dict:
    return {"py_spy": record(stack, users=users, seconds=seconds), "round_trips": round_trips(stack)}


def main() -> int:
    users, seconds = int(setting("BENCH_CONCURRENCY", 16)), setting("BENCH_PROFILE_SECONDS", 30)
    with running_stack(count_actions=True) as stack, using_stack(stack):
        figures = spy_on_turns(stack, users=users, seconds=seconds)
    print("\n".join(profile_markdown(figures["py_spy"], figures["round_trips"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

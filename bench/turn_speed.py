"""Issue 14's turn figures on one stack, and the same again on the other database.

On one running stack: SMS turns against the `rasa init` baseline
(bench.baseline), voice against SMS at one conversation, a long conversation
(bench.long_conversation), the burst (bench.burst), and each process's
memory. bench.run runs them on its main stack (SQLite unless DATABASE_URL says
otherwise) and, with BENCH_DATABASES naming both (the default
"sqlite,postgresql"), again on a stack on the other one: PostgreSQL is
BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/relay_bench),
a database dropped and created anew for the run; unreachable, that pass is
skipped and says why.

Environment: BENCH_SECONDS, BENCH_CONCURRENCY, BENCH_CYCLES (voice and SMS
script cycles at one conversation, 4x it), BENCH_LONG_CONVERSATIONS,
BENCH_LONG_TURNS, BENCH_BURST_CONCURRENCY, BENCH_BURST_SECONDS.

    python -m bench.turn_speed   # on a stack of its own (DATABASE_URL, default SQLite)
"""

import os
import sys
from collections.abc import Callable

from sqlalchemy import make_url

from bench.stack import Stack, running_stack, setting, shape, using_stack

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/relay_bench"
VOICE_PATIENTS = 120  # bench patients 120 and 121


def voice_against_sms(stack: Stack, *, cycles: int) -> dict:
    """Our voice and SMS webhook turns at one conversation each, script cycles taking turns."""
    from bench.sms import Webhook, drive_interleaved, make_bench_patients
    from bench.voice import VoiceWebhook
    from relay.core.settings import get_settings

    sms_phone, voice_phone = make_bench_patients(2, first=VOICE_PATIENTS)
    token = get_settings().twilio_auth_token.get_secret_value()
    sides: dict[str, tuple[Callable[[str, str], bool], list[str]]] = {
        "sms": (Webhook(stack.api_url, token), [sms_phone]),
        "voice": (VoiceWebhook(stack.api_url, token), [voice_phone]),
    }
    runs = {name: run.summary() for name, run in drive_interleaved(sides, cycles=cycles).items()}
    return runs | {"p50_ratio": round(runs["voice"]["p50_ms"] / runs["sms"]["p50_ms"], 3)
                   if runs["sms"]["p50_ms"] else None}  # fmt: skip


def turn_speed(stack: Stack) -> dict:
    from bench.baseline import against_baseline
    from bench.burst import run_burst
    from bench.long_conversation import run_long_conversations
    from relay.core.settings import get_settings

    users, seconds = int(setting("BENCH_CONCURRENCY", 16)), setting("BENCH_SECONDS", 60)
    figures: dict = {"database": make_url(get_settings().database_url).get_backend_name(), "shape": shape()}
    figures["baseline"] = against_baseline(stack, users=users, seconds=seconds)
    figures["voice_vs_sms_c1"] = voice_against_sms(stack, cycles=4 * int(setting("BENCH_CYCLES", 4)))
    figures["long_conversation"] = run_long_conversations(
        stack, conversations=int(setting("BENCH_LONG_CONVERSATIONS", 3)), turns=int(setting("BENCH_LONG_TURNS", 205))
    )
    figures["burst"] = run_burst(stack, users=int(setting("BENCH_BURST_CONCURRENCY", 48)),
                                 seconds=setting("BENCH_BURST_SECONDS", 300))  # fmt: skip
    figures["memory"] = stack.memory_detail_mb()
    return figures


def other_database(main_url: str) -> str | None:
    """The database of the second pass, if BENCH_DATABASES asks for one: "sqlite" or a PostgreSQL URL."""
    wanted = {name.strip() for name in os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")}
    main = make_url(main_url).get_backend_name()
    if main == "sqlite" and "postgresql" in wanted:
        return os.environ.get("BENCH_POSTGRES_URL") or DEFAULT_POSTGRES
    if main != "sqlite" and "sqlite" in wanted:
        return "sqlite"
    return None


def fresh_postgres(url: str) -> str | None:
    """Drop and create the bench database; None when it worked, else why not."""
    import psycopg

    target = make_url(url)
    admin = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            name = psycopg.sql.Identifier(target.database or "relay_bench")
            connection.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            connection.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(name))
    except psycopg.Error as exc:
        return f"PostgreSQL at {target.render_as_string(hide_password=True)} not usable ({type(exc).__name__})"
    return None


def on_other_database(main_url: str) -> dict | None:
    url = other_database(main_url)
    if url is None:
        return None
    if url != "sqlite" and (why := fresh_postgres(url)):
        return {"skipped": why}
    with running_stack(database_url=url) as stack, using_stack(stack):
        return turn_speed(stack)


def turn_speed_markdown(f: dict) -> list[str]:
    from bench.baseline import baseline_markdown
    from bench.burst import burst_markdown
    from bench.long_conversation import long_conversation_markdown

    if "skipped" in f:
        return ["## Turn speed on the other database", "", f"Skipped: {f['skipped']}."]
    v = f["voice_vs_sms_c1"]
    lines = [f"# Turn speed on {f['database']}", "", f"Stack: {_shape_text(f.get('shape', {}))}.", ""]
    lines += [*baseline_markdown(f["baseline"]), ""]
    lines += ["## Voice against SMS at one conversation (our webhooks)", "",
              "| | turns | p50 ms | p95 ms | errors |", "| --- | ---: | ---: | ---: | ---: |",
              f"| SMS | {v['sms']['turns']} | {v['sms']['p50_ms']} | {v['sms']['p95_ms']} | {v['sms']['errors']} |",
              f"| voice | {v['voice']['turns']} | {v['voice']['p50_ms']} | {v['voice']['p95_ms']} | "
              f"{v['voice']['errors']} |",
              f"| p50 ratio (voice / SMS; target at most 1.5) | | {v['p50_ratio']} | | |", ""]  # fmt: skip
    lines += [*long_conversation_markdown(f["long_conversation"]), ""]
    lines += [*burst_markdown(f["burst"]), ""]
    lines += ["## Memory at the end (MB; RSS of each process and its children, PSS in all)", "",
              "| process | RSS per process | PSS total |", "| --- | --- | ---: |"]  # fmt: skip
    lines += [f"| {name} | {' + '.join(map(str, m['rss_mb']))} | {m['pss_total_mb']} |"
              for name, m in f["memory"].items()]  # fmt: skip
    return lines


def _shape_text(shape: dict[str, int]) -> str:
    return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in shape.items()) or "defaults"


def main() -> int:
    with running_stack() as stack, using_stack(stack):
        figures = turn_speed(stack)
    print("\n".join(turn_speed_markdown(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

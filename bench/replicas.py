"""Two Rasa replicas against one: our SMS webhook turns/s at BENCH_CONCURRENCY, new conversations.

BENCH_REPLICAS (default 2) is how many to compare with one; below 2 the part is skipped.

Replica I is `relay serve rasa --replica I` with its own action server
(`relay serve actions --replica I`); the API spreads turns over
RASA_REPLICAS of them. The driver is bench.baseline's (everyday messages,
every conversation a new patient). Without `--replica` in `relay serve`
yet, the comparison is skipped and says so. BENCH_RASA_WORKERS (Sanic
workers per Rasa), BENCH_API_WORKERS and BENCH_ACTION_SERVER_WORKERS
apply to every stack here when set.

    python -m bench.replicas
"""

import os
import sys

from bench.stack import bot_can_replicate, running_stack, setting, shape, using_stack


def workers_from_env() -> dict[str, int]:
    names = {"rasa": "BENCH_RASA_WORKERS", "api": "BENCH_API_WORKERS", "action_server": "BENCH_ACTION_SERVER_WORKERS"}
    return {kind: int(os.environ[name]) for kind, name in names.items() if os.environ.get(name)}


def replica_run(replicas: int, *, users: int, seconds: float) -> dict:
    from bench.baseline import drive_webhook

    with running_stack(replicas=replicas, workers=workers_from_env()) as stack, using_stack(stack):
        figures = drive_webhook(stack, users=users, seconds=seconds)
        return {"replicas": replicas, "throughput": figures, "memory": stack.memory_detail_mb(), "shape": shape()}


def compare_replicas(*, users: int, seconds: float, one: dict | None = None) -> dict:
    """`one`: the one-replica figures of this run when already measured (bench.run's main stack)."""
    replicas = int(setting("BENCH_REPLICAS", 2))
    if replicas < 2:
        return {"skipped": f"BENCH_REPLICAS={replicas}"}
    if not bot_can_replicate():
        return {"skipped": "`relay serve` has no --replica option yet (the replicas contract of issue 14)"}
    one = one or replica_run(1, users=users, seconds=seconds)
    replicated = replica_run(replicas, users=users, seconds=seconds)
    base, ours = one["throughput"]["turns_per_s"], replicated["throughput"]["turns_per_s"]
    return {"one": one, "replicated": replicated, "ratio": round(ours / base, 3) if base else None,
            "workers": workers_from_env()}  # fmt: skip


def replicas_markdown(f: dict) -> list[str]:
    lines = ["## Rasa replicas against one (SMS webhook, new conversations)", ""]
    if "skipped" in f:
        return [*lines, f"Skipped: {f['skipped']}."]
    lines += ["| replicas | turns/s | p50 ms | p95 ms | errors |", "| ---: | ---: | ---: | ---: | ---: |"]
    for run in (f["one"], f["replicated"]):
        t = run["throughput"]
        lines.append(f"| {run['replicas']} | {t['turns_per_s']} | {t['p50_ms']} | {t['p95_ms']} | {t['errors']} |")
    lines += [f"| ratio ({f['replicated']['replicas']} / 1) | {f['ratio']} | | | |", ""]
    lines += [f"Stacks: one replica {f['one'].get('shape')}; replicated {f['replicated'].get('shape')}.", ""]
    lines += ["Memory of the replicated stack (MB; RSS of each process and its Sanic workers, PSS in all):", ""]
    lines += ["| process | RSS per process | PSS total |", "| --- | --- | ---: |"]
    lines += [f"| {name} | {' + '.join(map(str, m['rss_mb']))} | {m['pss_total_mb']} |"
              for name, m in f["replicated"]["memory"].items()]  # fmt: skip
    if f["workers"]:
        lines += ["", f"Workers: {f['workers']}."]
    return lines


def main() -> int:
    users, seconds = int(setting("BENCH_CONCURRENCY", 16)), setting("BENCH_SECONDS", 60)
    print("\n".join(replicas_markdown(compare_replicas(users=users, seconds=seconds))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

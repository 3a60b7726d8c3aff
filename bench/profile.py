"""Where our added time goes: a cProfile of in-process webhook turns, grouped by layer.

The turns run against the same Rasa server and database as the benchmark;
the time spent waiting for Rasa's answer is reported as its own group, so the
rest is what our layers cost.
"""

import cProfile
import pstats
import uuid

from twilio.request_validator import RequestValidator

from bench.sms import CLINIC_NUMBER, SCRIPT

# pstats' table: (file, line, function) -> (primitive calls, calls, own time, cumulative time, callers).
Label = tuple[str, int, str]
StatsTable = dict[Label, tuple[int, int, float, float, dict[Label, tuple[int, int, float, float]]]]


class ProfileStats(pstats.Stats):
    """pstats.Stats with its table, `stats`, declared: pstats fills it, but typeshed leaves it out (undocumented).

    Stats.get_stats_profile() would be the typed way in, but it rounds each
    function's times to the millisecond and keys functions by name alone (same
    names in different files collide), which the per-layer sums cannot afford.
    """

    stats: StatsTable


GROUPS = (
    ("waiting for Rasa", ("relay/inbound/rasa_client.py",)),
    ("database (SQLAlchemy + driver)", ("sqlalchemy/", "sqlite3", "psycopg")),
    ("signature check (twilio)", ("twilio/request_validator",)),
    ("TwiML (twilio)", ("twilio/twiml",)),
    ("relay domain code", ("/relay/", "/webhooks/", "/api/")),
)


def profile_turns(*, base_url: str, auth_token: str, phone: str, turns: int = 35) -> dict[str, float]:
    """The webhook's own steps, run in this thread so cProfile sees them (FastAPI's
    test client would run them in other threads): signature check, number
    normalisation, the turn (store, checks, Rasa, persist) and the TwiML."""
    from relay.core.phones import to_e164
    from relay.inbound.turns import handle_inbound
    from webhooks.sms import _twiml

    validator = RequestValidator(auth_token)
    url = f"{base_url}/webhooks/twilio/sms"
    profiler = cProfile.Profile()
    for n in range(turns):
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "From": phone,
            "To": CLINIC_NUMBER,
            "Body": SCRIPT[n % len(SCRIPT)],
        }
        signature = validator.compute_signature(url, params)
        profiler.enable()
        assert validator.validate(url, params, signature)
        result = handle_inbound(
            sid=params["MessageSid"], phone=to_e164(params["From"]), body=params["Body"], channel="sms"
        )
        _twiml(result.replies)
        profiler.disable()
    stats = ProfileStats(profiler)
    totals = own_time_by_group(stats, GROUPS)
    # Waiting for Rasa shows up as socket reads under 'other'; measure it as the
    # cumulative time of our one call into Rasa, and take it out of 'other'.
    rasa_wait = sum(
        cumtime for (filename, _l, func), (_c, _n, _t, cumtime, _cl) in stats.stats.items()
        if filename.endswith("relay/inbound/rasa_client.py") and func == "send_message"
    )  # fmt: skip
    rasa_own = totals["waiting for Rasa"]
    totals["other"] = max(0.0, totals["other"] - (rasa_wait - rasa_own))
    totals["waiting for Rasa"] = rasa_wait
    per_turn = {name: round(seconds * 1000 / turns, 2) for name, seconds in totals.items()}
    per_turn["ours (all but waiting for Rasa)"] = round((sum(totals.values()) - rasa_wait) * 1000 / turns, 2)
    return per_turn


def own_time_by_group(stats: ProfileStats, groups: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, float]:
    """Seconds of own time (tottime) per group: each function counts for the first group one of
    whose markers is in its file name, else for "other"."""
    totals = {name: 0.0 for name, _ in groups} | {"other": 0.0}
    for (filename, _line, _func), (_cc, _nc, tottime, _cumtime, _callers) in stats.stats.items():
        for name, markers in groups:
            if any(marker in filename for marker in markers):
                totals[name] += tottime
                break
        else:
            totals["other"] += tottime
    return totals

"""The sweep is registered with RQ's cron, which runs once (`relay serve cron`) beside any number of workers."""

import os
import signal
import subprocess
import time
from datetime import UTC, datetime

import pytest
from rq import Worker
from rq.cron import CronScheduler, get_cron_job_history_key
from sqlalchemy import select

from relay.core.db import session_scope
from relay.core.settings import PROJECT_ROOT
from relay.models import Message, Patient, PlannedOutreach
from relay.outreach.reconcile import replan_referral
from scheduler.queues import SWEEP_QUEUE
from scheduler.sweep import run_sweep
from tests.support import wait_until


def test_the_sweep_is_registered_with_rq_cron(redis_client):
    cron = CronScheduler(connection=redis_client)
    cron.load_config_from_file("scheduler.cron")
    [job] = cron.get_jobs()
    assert (job.func, job.queue_name, job.interval) == (run_sweep, SWEEP_QUEUE, 30)


def _plan_aishas_invitation() -> int:
    """The real planner: Aisha's referral is ready to schedule, so an invitation is due now."""
    with session_scope() as session:
        aisha = session.scalars(select(Patient).filter_by(name="Aisha Khan")).one()
        replan_referral(session, referral=aisha.referrals[0], now=datetime.now(UTC))
        return session.scalars(
            select(PlannedOutreach.id).filter_by(patient_id=aisha.id, kind="scheduling_invite", state="planned")
        ).one()


def _serve(process: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(PROJECT_ROOT / ".venv" / "bin" / "relay"), "serve", process],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


@pytest.mark.timeout(240)
def test_one_sweep_schedule_however_many_workers_run(daytime, redis_client, outreach_env):
    """`relay serve cron` beside two `relay serve worker`: one schedule, and the workers send what it finds."""
    interval = 5  # seconds: six ticks in the 30 s window below (two schedules would make twelve)
    env = os.environ | {"OUTREACH_SWEEP_INTERVAL_SECONDS": str(interval)}
    invitation = _plan_aishas_invitation()
    processes = [_serve("cron", env), _serve("worker", env), _serve("worker", env)]
    try:
        # RQ's cron runs an interval job at once when it starts, then every interval.
        wait_until(
            lambda: len(outreach_env.created_requests()) >= 1, timeout=90, what="the invitation at the fake Twilio"
        )
        wait_until(lambda: len(Worker.all(connection=redis_client)) == 2, timeout=30, what="two RQ workers")
        window_start = time.time()
        time.sleep(6 * interval)
        sweeps = redis_client.zcount(get_cron_job_history_key(f"{run_sweep.__module__}.{run_sweep.__name__}"),
                                     window_start, time.time())  # fmt: skip
        schedulers = CronScheduler.all(redis_client)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        errors = [process.communicate(timeout=60)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], [e.decode()[-2000:] for e in errors]
    assert len(schedulers) == 1
    assert 4 <= sweeps <= 8, f"{sweeps} cron sweeps in {6 * interval} s at one every {interval} s"
    [request] = outreach_env.created_requests()
    assert request.form["To"] == "+13125550146"
    with session_scope() as session:
        sent = session.get(PlannedOutreach, invitation)
        assert sent.state == "sent" and sent.twilio_sid == outreach_env.sent[0]["sid"]
    assert request.form["Body"] and "mole" not in request.form["Body"].lower()
    wait_until(lambda: CronScheduler.all(redis_client) == [], timeout=30, what="the cron scheduler to stop")


@pytest.mark.usefixtures("daytime")
def test_the_real_templates_word_what_goes_out(redis_client, outreach_env):
    from relay.outreach.reconcile import still_applies
    from relay.outreach.templates import compose
    from scheduler.sweep import sweep
    from tests.outreach_support import work

    invitation = _plan_aishas_invitation()
    assert sweep(datetime.now(UTC)).queued == [invitation]  # due when planned (daytime in her zone)
    work(redis_client)
    [request] = outreach_env.created_requests()
    with session_scope() as session:
        row = session.get(PlannedOutreach, invitation)
        assert row.state == "sent"
        assert still_applies(session, row, datetime.now(UTC))
        assert request.form["Body"] == compose(session, row)
        message = session.get(Message, row.message_id)
        assert (message.body, message.author, message.twilio_sid) == (request.form["Body"], "system", row.twilio_sid)

"""The sweep is registered with RQ's cron, and `relay serve worker` runs both."""

import os
import signal
import subprocess
from datetime import UTC, datetime

import pytest
from rq.cron import CronScheduler
from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import Message, Patient, PlannedOutreach
from relay.outreach.planner import replan_referral
from relay.core.settings import PROJECT_ROOT
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


@pytest.mark.timeout(180)
def test_relay_serve_worker_sweeps_on_its_own_and_sends(daytime, redis_client, outreach_env):
    invitation = _plan_aishas_invitation()
    worker = subprocess.Popen(
        [str(PROJECT_ROOT / ".venv" / "bin" / "relay"), "serve", "worker"],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        # RQ's cron runs an interval job at once when it starts, then every 30 s.
        wait_until(lambda: len(outreach_env.created_requests()) >= 1, timeout=90, what="the invitation at the fake Twilio")
        wait_until(lambda: len(CronScheduler.all(redis_client)) == 1, timeout=30, what="the cron scheduler registry")
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=60)
    assert worker.returncode == 0, errors.decode()[-2000:]
    [request] = outreach_env.created_requests()
    assert request.form["To"] == "+13125550146"
    with session_scope() as session:
        sent = session.get(PlannedOutreach, invitation)
        assert sent.state == "sent" and sent.twilio_sid == outreach_env.sent[0]["sid"]
    assert request.form["Body"] and "mole" not in request.form["Body"].lower()
    # The cron child went with the worker.
    wait_until(lambda: CronScheduler.all(redis_client) == [], timeout=30, what="the cron scheduler to stop")


@pytest.mark.usefixtures("daytime")
def test_the_real_templates_render_what_goes_out(redis_client, outreach_env):
    from relay.outreach.templates import render
    from scheduler.sweep import sweep
    from tests.scheduler.conftest import work

    invitation = _plan_aishas_invitation()
    assert sweep(datetime.now(UTC)).queued == [invitation]  # due when planned (daytime in her zone)
    work(redis_client)
    [request] = outreach_env.created_requests()
    with session_scope() as session:
        row = session.get(PlannedOutreach, invitation)
        assert row.state == "sent"
        assert request.form["Body"] == render(session, row, datetime.now(UTC))
        message = session.get(Message, row.message_id)
        assert (message.body, message.author, message.twilio_sid) == (request.form["Body"], "system", row.twilio_sid)

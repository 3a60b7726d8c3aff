"""The RQ wiring of the outreach engine: worker, queues, cron, and the entry points of the jobs and the sweep.

The work itself is relay/outreach (dispatch, send, recovery); nothing here decides what is sent.
"""

"""FAQs from the database and the two-strike fallback, through the real model."""

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import Handoff
from tests.bot.test_referral_status_conversation import AISHA, UNKNOWN

pytestmark = pytest.mark.rasa


def test_a_faq_answer_comes_from_the_database(texter):
    reply = texter(UNKNOWN).send("where do i park")
    assert "garage on Riverside Ave" in reply


def test_an_faq_edited_through_the_api_is_answered_with_the_new_text(texter, api_client, auth_headers):
    new_answer = "Parking is now in the blue lot behind the clinic; it is free for patients."
    response = api_client.put(
        "/api/faqs/parking",
        headers=auth_headers,
        json={"question": "Where do I park?", "examples": ["is there parking"], "answer": new_answer},
    )
    assert response.status_code == 200 and response.json()["answer"] == new_answer
    assert texter(AISHA).send("is there parking?") == new_answer


def test_a_faq_added_since_training_is_found_by_its_wording(texter, api_client, auth_headers):
    answer = "Yes, flu shots are given at the front desk, Monday to Friday, no appointment needed."
    api_client.put(
        "/api/faqs/flu_shots",
        headers=auth_headers,
        json={
            "question": "Do you give flu shots?",
            "examples": ["can i get a flu shot", "flu vaccine?"],
            "answer": answer,
        },
    )
    assert texter(AISHA).send("can i get a flu shot there") == answer


def test_a_question_with_no_good_match_gets_an_honest_i_dont_know(texter):
    reply = texter(AISHA).send("do you sell hearing aids")
    assert "garage" not in reply and "photo ID" not in reply and "Medicare" not in reply
    assert "know" in reply.lower() or "only help" in reply.lower()


def test_two_misunderstandings_in_a_row_bring_a_person(texter):
    aisha = texter(AISHA)
    first = aisha.send("tell me a joke")
    assert "did not understand" in first.lower() or "only help" in first.lower()
    with session_scope() as session:
        assert session.scalars(select(Handoff)).first() is None
    second = aisha.send("who won the game last night")
    assert "team" in second.lower()
    with session_scope() as session:
        assert session.scalars(select(Handoff)).one().reason == "repeated_misunderstanding"


def test_asking_for_a_person_opens_a_handoff(texter):
    reply = texter(AISHA).send("can i talk to a person")
    assert "team" in reply.lower()
    with session_scope() as session:
        handoff = session.scalars(select(Handoff)).one()
        assert (handoff.reason, handoff.status) == ("patient_request", "open")


def test_a_handoff_silences_the_bot_until_staff_resolve_it(texter, api_client, auth_headers):
    aisha = texter(AISHA)
    aisha.send("i want to talk to a real person")
    ack = aisha.send("where do i park")  # would be an FAQ answer without the handoff
    assert "team" in ack.lower() and "garage" not in ack
    assert aisha.send("hello?") == ""  # stored for staff, no reply
    handoffs = api_client.get("/api/handoffs", params={"status": "open"}, headers=auth_headers).json()
    assert len(handoffs) == 1
    resolved = api_client.post(f"/api/handoffs/{handoffs[0]['id']}/resolve", headers=auth_headers)
    assert resolved.status_code == 200
    assert "garage on Riverside Ave" in aisha.send("where do i park")
    history = api_client.get("/api/conversations", params={"phone": AISHA}, headers=auth_headers).json()
    assert "hello?" in [m["body"] for m in history["messages"] if m["direction"] == "inbound"]

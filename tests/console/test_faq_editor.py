"""The FAQ editor: admins edit what the bot answers from, with a live preview; the bot uses an edit at once."""

import re
from datetime import datetime

import pytest
from sqlalchemy import Select, select

from relay.core.db import session_scope
from relay.models import AuditEvent, Faq, StaffRole, StaffSession
from relay.records.faq import answer_for
from tests.console.support import csrf_of, make_account, sign_in

NEW_PARKING = "Park free in the Riverside Ave garage, level 2; bring your ticket to the front desk."


@pytest.fixture
def admin(fresh_demo, clock):
    return make_account(clock, email="ada@clinic.example", name="Ada Admin", role=StaffRole.ADMIN)


def _faq(key: str) -> Faq | None:
    with session_scope() as session:
        return session.scalars(select(Faq).filter_by(key=key)).one_or_none()


def _faq_events() -> list[tuple[str, str, dict]]:
    with session_scope() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action.like("faq.%")))
        return [(event.actor, event.action, event.details) for event in events]


def _stored(key: str) -> Faq:
    faq = _faq(key)
    assert faq is not None, key
    return faq


def _found(pattern: str, text: str) -> str:
    """The first group of the pattern (or the whole match) in the text; the test fails if it is not there."""
    match = re.search(pattern, text, re.S)
    assert match, pattern
    return match.group(1) if match.groups() else match.group(0)


def _answered(message: str, key: str) -> Faq | None:
    with session_scope() as session:
        return answer_for(session, message=message, selected_key=key, selector_confidence=0.9)


def _form(page) -> dict[str, str]:
    """The edit form's fields as the page shows them."""
    text = page.text
    fields = {"csrf_token": csrf_of(page)}
    fields["question"] = _found(r'id="question" name="question" type="text" value="([^"]*)"', text)
    for name in ("examples", "answer", "answer_es"):
        match = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', text, re.S)
        assert match, name
        fields[name] = match.group(1)
    return {name: value.replace("&#39;", "'").replace("&amp;", "&") for name, value in fields.items()}


def test_an_admin_edits_an_answer_and_the_bot_uses_it_from_the_next_message(console, admin, clock):
    sign_in(console, admin, clock)
    listing = console.get("/console/faqs")
    assert listing.status_code == 200
    row = _found(r'data-faq="parking".*?</tr>', listing.text)
    assert "Where do I park?" in row and "Live" in row and "Not yet" in row

    edit = console.get("/console/faqs/parking")
    assert edit.status_code == 200
    assert "from the next message on" in edit.text
    form = _form(edit)
    assert form["answer"].startswith("Free parking is in the garage")
    assert "where can I park my car" in form["examples"].splitlines()

    clock.advance(minutes=3)
    form |= {"answer": NEW_PARKING, "answer_es": "Estacione gratis en el garaje de Riverside Ave, nivel 2."}
    saved = console.post("/console/faqs/parking", data=form)
    assert saved.status_code == 303 and saved.headers["location"] == "/console/faqs/parking?done=saved"
    assert "The bot uses this version from the next message on" in console.get(saved.headers["location"]).text

    found = _answered("where do I park", "parking")
    assert found is not None and found.answer == NEW_PARKING
    assert found.answer_es == "Estacione gratis en el garaje de Riverside Ave, nivel 2."
    assert found.updated_at == clock.now
    assert "where can I park my car" in found.examples  # the examples went back unchanged
    assert _faq_events() == [(f"staff:{admin.id}", "faq.updated", {"key": "parking"})]
    row = _found(r'data-faq="parking".*?</tr>', console.get("/console/faqs").text)
    assert "Written" in row and "Tue, Mar 10 at 10:03 AM" in row  # the clinic's time (Chicago, CDT)


def test_a_retired_entry_is_not_answered_until_it_is_restored(console, admin, clock):
    sign_in(console, admin, clock)
    token = csrf_of(console.get("/console/faqs/parking"))
    retired = console.post("/console/faqs/parking/retire", data={"csrf_token": token})
    assert retired.status_code == 303
    assert _answered("where do I park", "parking") is None
    page = console.get("/console/faqs/parking")
    assert "This entry is retired" in page.text and "Restore this entry" in page.text
    assert "Retired" in _found(r'data-faq="parking".*?</tr>', console.get("/console/faqs").text)
    console.post("/console/faqs/parking/retire", data={"csrf_token": token})  # a second click changes nothing

    assert console.post("/console/faqs/parking/restore", data={"csrf_token": token}).status_code == 303
    found = _answered("where do I park", "parking")
    assert found is not None and found.key == "parking"
    events = [(action, details) for _actor, action, details in _faq_events()]
    assert sorted(events, key=str) == [("faq.restored", {"key": "parking"}), ("faq.retired", {"key": "parking"})]


BAD_EDITS = {
    "a curly quote in the English answer": ({"answer": "It\u2019s in the garage."}, "answer", "SMS alphabet"),
    "an emoji in the English answer": ({"answer": "In the garage \U0001f697"}, "answer", "SMS alphabet"),
    "an answer of three segments": ({"answer": "Park in the garage. " * 17}, "answer", "2 SMS segments"),
    "an empty question": ({"question": "  "}, "question", "The question is empty"),
    "a one-letter example": ({"examples": "where do I park\nx"}, "examples", "Example 2 needs at least 2"),
    "an accented Spanish answer": ({"answer_es": "Hay estacionamiento gratis aquí."}, "answer_es", "í"),
}


@pytest.mark.parametrize("change, field, says", BAD_EDITS.values(), ids=BAD_EDITS.keys())
def test_bad_content_is_refused_with_422_next_to_its_field_and_nothing_is_saved(console, admin, clock, change,
                                                                                 field, says):  # fmt: skip
    sign_in(console, admin, clock)
    before = _stored("parking")
    form = _form(console.get("/console/faqs/parking")) | {"answer": NEW_PARKING} | change
    answer = console.post("/console/faqs/parking", data=form)
    assert answer.status_code == 422
    assert "Nothing was saved" in answer.text
    error = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', answer.text, re.S)
    assert error and says in error.group(1).replace("&#39;", "'")
    described = rf'id="{field}" name="{field}"[^>]*aria-describedby="[^"]*{field}-error[^"]*"[^>]*aria-invalid="true"'
    assert re.search(described, answer.text)
    assert NEW_PARKING in answer.text or field == "answer"  # what was typed is kept
    after = _stored("parking")
    assert (after.answer, after.question, after.examples, after.answer_es, after.updated_at) == (
        before.answer, before.question, before.examples, before.answer_es, before.updated_at)  # fmt: skip
    assert _faq_events() == []


def test_a_new_entry_is_added_and_a_taken_or_malformed_key_is_refused(console, admin, clock):
    sign_in(console, admin, clock)
    new = console.get("/console/faqs/new")
    assert new.status_code == 200 and 'name="key"' in new.text
    entry = {"csrf_token": csrf_of(new), "question": "Is there wifi?", "examples": "wifi password\n\nguest wifi\n",
             "answer": "Yes: RiversideGuest, no password.", "answer_es": ""}  # fmt: skip
    created = console.post("/console/faqs", data=entry | {"key": "wifi"})
    assert created.status_code == 303 and created.headers["location"] == "/console/faqs/wifi?done=created"
    wifi = _faq("wifi")
    assert wifi is not None and wifi.examples == ["wifi password", "guest wifi"] and wifi.answer_es is None
    found = _answered("is there wifi", "wifi")
    assert found is not None and found.key == "wifi"

    for key, says in (("parking", "The key parking is taken"), ("Bad Key!", "lowercase letters"),
                      ("new", "names a page"), ("", "lowercase letters")):  # fmt: skip
        refused = console.post("/console/faqs", data=entry | {"key": key, "question": "Where do I park again?"})
        assert refused.status_code == 422, key
        assert says in _found(r'id="key-error">(.*?)</p>', refused.text)
    assert _stored("parking").question == "Where do I park?"
    assert _faq("new") is None
    assert _faq_events() == [(f"staff:{admin.id}", "faq.created", {"key": "wifi"})]


def _last_seen(user_id: int) -> Select[datetime]:
    return select(StaffSession.last_seen_at).filter_by(user_id=user_id, second_factor_done=True)


def test_the_preview_shows_each_answer_as_a_text_and_as_speech(console, admin, clock):
    sign_in(console, admin, clock)
    token = csrf_of(console.get("/console/faqs/records"))
    with session_scope() as session:
        seen_before = session.scalars(_last_seen(admin.id)).one()
    clock.advance(minutes=5)
    english = "Fax records to (312) 555-0119. Reply RECORDS for the portal link; it\u2019s quick."
    answer = console.post("/console/faqs/preview", data={"answer": english, "language": "en"},
                          headers={"X-CSRF-Token": token})  # fmt: skip
    assert answer.status_code == 200
    text = answer.text
    assert '<p class="bubble" lang="en">Fax records to (312) 555-0119.' in text
    assert "Unicode (UCS-2)" in text and "<kbd>\u2019</kbd>" in text
    assert "Saving refuses this" in text
    assert "Fax records to 3 1 2, 5 5 5, 0 1 1 9." in text and "Reply RECORDS" not in text.split("As speech")[1]
    assert 'id="preview-en-status" hx-swap-oob="innerHTML"' in text
    assert "it&#39;s quick" in text  # the suggestion in plain SMS characters

    spanish = console.post(
        "/console/faqs/preview",
        headers={"X-CSRF-Token": token},
        data={"answer": english, "answer_es": "Envíe sus documentos por fax.", "language": "es"},
    )
    assert '<p class="bubble" lang="es">Envíe sus documentos por fax.</p>' in spanish.text
    assert "<kbd>í</kbd>" in spanish.text and "Envie sus documentos por fax." in spanish.text
    plain = console.post("/console/faqs/preview", headers={"X-CSRF-Token": token},
                         data={"answer": "Bring your photo ID.", "language": "en"})  # fmt: skip
    assert "20 characters · 1 SMS segment · GSM-7" in plain.text and "Saving refuses" not in plain.text
    with session_scope() as session:  # typing is not the person doing anything: the session is not kept alive
        assert session.scalars(_last_seen(admin.id)).one() == seen_before
    assert console.post("/console/faqs/preview", data={"answer": "x", "language": "en"}).status_code == 403  # no token


def test_the_edit_page_previews_the_stored_answers_and_wires_the_live_preview(console, admin, clock):
    sign_in(console, admin, clock)
    page = console.get("/console/faqs/hours").text
    assert '<p class="bubble" lang="en">We are open Monday to Friday, 8 AM to 5 PM. Call 911 for emergencies.' in page
    assert "Call 9 1 1 for emergencies." in page  # as the voice channel says it
    assert 'hx-post="/console/faqs/preview"' in page and 'hx-target="#preview-es"' in page
    assert 'id="preview-en-status" class="visually-hidden" aria-live="polite"' in page
    assert "accented <strong>á í ó ú</strong> are refused" in page


def test_a_form_without_its_csrf_token_changes_nothing(console, admin, clock):
    sign_in(console, admin, clock)
    form = _form(console.get("/console/faqs/parking")) | {"answer": NEW_PARKING}
    del form["csrf_token"]
    assert console.post("/console/faqs/parking", data=form).status_code == 403
    assert console.post("/console/faqs/parking/retire", data={"csrf_token": "forged"}).status_code == 403
    assert _stored("parking").answer != NEW_PARKING and _stored("parking").retired_at is None
    assert _faq_events() == []


def test_an_unknown_key_is_a_404_page(console, admin, clock):
    sign_in(console, admin, clock)
    assert console.get("/console/faqs/no_such_entry").status_code == 404
    token = csrf_of(console.get("/console/faqs"))
    assert console.post("/console/faqs/no_such_entry/retire", data={"csrf_token": token}).status_code == 404


ADMIN_ROUTES = [
    ("get", "/console/faqs"),
    ("get", "/console/faqs/new"),
    ("get", "/console/faqs/parking"),
    ("post", "/console/faqs"),
    ("post", "/console/faqs/parking"),
    ("post", "/console/faqs/parking/retire"),
    ("post", "/console/faqs/parking/restore"),
    ("post", "/console/faqs/preview"),
]


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_staff_are_refused_every_faq_route(console, account, clock, method, path):
    sign_in(console, account, clock)
    token = csrf_of(console.get("/console/"))
    data = {"csrf_token": token, "key": "wifi", "question": "Where do I park?", "answer": NEW_PARKING}
    answer = console.get(path) if method == "get" else console.post(path, data=data)
    assert answer.status_code == 403 and "Only admins can open this page" in answer.text
    parking = _stored("parking")
    assert parking.retired_at is None and parking.answer != NEW_PARKING and _faq("wifi") is None
    assert _faq_events() == []


def test_spanish_answers_keep_the_letters_sms_has_and_lose_the_accents_it_lacks():
    from relay.records.faq_rules import FaqProblems, checked, plain_sms

    fine = "¡Gracias! Mañana hay café para el pingüino. ¿Algo mas? Llame a recepcion."
    content = checked(question="Is there coffee?", examples=[" coffee? ", ""], answer="Yes.", answer_es=fine)
    assert (content.answer_es, content.examples) == (fine, ["coffee?"])
    with pytest.raises(FaqProblems) as refused:
        checked(question="Is there coffee?", examples=[], answer="Yes.", answer_es="¿Algo más? Sí.")
    assert set(refused.value.by_field) == {"answer_es"} and "á" in refused.value.by_field["answer_es"]
    assert plain_sms("¿Algo más? Sí, información \u201cahora\u201d.") == '¿Algo mas? Si, informacion "ahora".'
    assert checked(question="Hours?", examples=[], answer="8 to 5.", answer_es="  ").answer_es is None

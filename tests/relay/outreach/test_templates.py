"""Every template, in both languages, on every demo referral: GSM-7, two segments, no clinical reason."""

from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select

from relay.demo.demo_file import default_demo_file
from relay.language.gsm import is_gsm7, non_gsm_characters, segments
from relay.models import Referral, Specialist
from relay.outreach.bulk import replan_all
from relay.outreach.reconcile import still_applies
from relay.outreach.templates import TEXTS, compose, fit, gsm_safe, message_values
from tests.support import demo_moment

NOW = demo_moment(0, "11:00")
DEMO_REASONS = [
    referral["reason"]
    for patient in yaml.safe_load(default_demo_file().read_text())["patients"]
    for referral in patient["referrals"]
]
# Words of the reasons that would give them away on their own.
CLINICAL_WORDS = ["angina", "mole", "meniscus", "MRI lumbar", "thyroid", "heart failure", "diabetes", "A1c", "anxiety",
                  "insomnia", "palpitations", "Holter", "eczema", "hypothyroidism", "syncope", "ECG"]  # fmt: skip


def test_the_demo_has_the_twelve_reasons_we_check():
    assert len(DEMO_REASONS) == 12


def test_every_sms_template_exists_in_english_and_spanish():
    for name, languages in TEXTS.items():
        if name == "leakage_handoff":
            continue
        assert set(languages) == {"en", "es"}, name


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_template_on_every_demo_referral_is_gsm7_two_segments_and_has_no_reason(db_session, language):
    rendered = 0
    for referral in db_session.scalars(select(Referral).order_by(Referral.id)):
        values = message_values(db_session, referral=referral, appointment=None, language=language)
        for name, languages in TEXTS.items():
            text = fit(languages.get(language) or languages["en"], values)
            assert is_gsm7(text), (name, non_gsm_characters(text))
            assert segments(text) <= 2, (name, len(text), text)
            assert "{" not in text and "}" not in text, (name, text)
            for reason in DEMO_REASONS:
                assert reason.lower() not in text.lower(), (name, reason)
            for word in CLINICAL_WORDS:
                assert word.lower() not in text.lower(), (name, word, text)
            rendered += 1
    assert rendered == 12 * len(TEXTS)


def test_a_long_address_falls_back_to_the_compact_wording(db_session):
    referral = db_session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
    values = message_values(db_session, referral=referral, appointment=None, language="es")
    values["address"] = (
        "Building 7, 12345 North Very Long Boulevard Name, Suite 4000, Springfield Heights, IL 60000-1234"
    )
    values["facility"] = "Lakeside Heart and Vascular Center of Excellence at Riverside University"
    text = fit(TEXTS["appointment_reminder"]["es"], values)
    assert segments(text) <= 2 and values["address"] not in text
    assert text.endswith("Responda C para confirmar o R para cambiar la cita.")


def test_database_values_are_made_gsm7(db_session):
    en_dash, curly = "\u2013", ("\u201c", "\u201d", "\u2019")
    typed = f"Dr. José Núñez {en_dash} {curly[0]}Clínica{curly[1]} Pérez{curly[2]}s"
    assert gsm_safe(typed) == 'Dr. José Nuñez - "Clinica" Pérez\'s'
    assert gsm_safe("🙂") == "?"
    specialist = db_session.scalars(select(Specialist).filter_by(key="raman")).one()
    specialist.name = "Dra. María Ríos"
    referral = db_session.scalars(select(Referral).filter_by(external_id="RF-2011")).one()
    text = fit(
        TEXTS["review_request"]["es"], message_values(db_session, referral=referral, appointment=None, language="es")
    )
    assert (
        text == "Riverside Family Health: ¿Como fue su visita con Dra. Maria Rios? Responda del 1 al 5 (5 = excelente)."
    )
    assert is_gsm7(text)


def test_every_planned_demo_text_renders_gsm7_within_two_segments(db_session):
    from relay.models import PlannedOutreach

    replan_all(db_session, now=NOW)
    texts: dict[str, list[str]] = {}  # every rendering per template: rows come in no set order
    for row in db_session.scalars(
        select(PlannedOutreach).filter_by(channel="sms").where(PlannedOutreach.state != "cancelled")
    ):
        row_state = row.state
        if row.error_code in ("quiet_hours", "too_late"):
            continue  # can never go, so never rendered
        if row_state == "skipped":
            row.state = "planned"  # render what Tom would have got, and reminders already past
        assert still_applies(db_session, row, NOW)
        text = compose(db_session, row)
        row.state = row_state
        texts.setdefault(row.template if row.language == "en" else f"es:{row.template}", []).append(text)
        assert is_gsm7(text) and segments(text) <= 2, text
        assert not any(reason.lower() in text.lower() for reason in DEMO_REASONS)
    assert set(texts) >= {
        "appointment_confirmation",
        "appointment_reminder",
        "status_authorization_pending",
        "scheduling_invite",
        "scheduling_nudge",
        "no_show_followup",
        "rebook_offer",
        "review_request",
        "status_received_urgent",
    }

    def some(template: str, fragment: str) -> bool:
        return any(fragment in text for text in texts[template])

    assert (
        "Riverside Family Health: How was your visit with Northside Imaging? Reply 1-5 (5 = excellent)."
        in texts["review_request"]
    )
    assert some("status_authorization_pending", "we are asking Blue Cross Blue Shield of Illinois for approval")
    assert some("no_show_followup", "Reply with a day and time that suits you")
    # Unconfirmed visits ask for a C; a visit already confirmed is only offered R.
    assert some("appointment_reminder", "Reply C to confirm or R to reschedule.")
    assert some("appointment_reminder", "your confirmed appointment") and all(
        text.endswith("Reply R to reschedule.")
        for text in texts["appointment_reminder"]
        if "your confirmed appointment" in text
    )
    assert all(
        text.startswith("Recordatorio de Riverside Family Health: su cita con")
        for text in texts["es:appointment_reminder"]
    )


def test_reminders_say_date_time_facility_and_address(db_session):
    from relay.models import PlannedOutreach

    replan_all(db_session, now=NOW)
    james = db_session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
    row = db_session.scalars(
        select(PlannedOutreach).filter_by(referral_id=james.id, kind="reminder", state="planned")
    ).first()
    text = compose(db_session, row)
    start = james.current_appointment.start_at
    from relay.language.timefmt import format_when

    for part in (format_when(start, "America/Chicago"), "Lakeside Heart Center", "455 N Lake Shore Dr, Suite 300",
                 "Dr. Amara Okafor", "Reply C to confirm or R to reschedule."):  # fmt: skip
        assert part in text
    assert NOW < start < NOW + timedelta(days=4)

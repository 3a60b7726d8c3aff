"""`relay import csv`: the sample clinic goes in through the import core, a second run changes nothing,
bad rows are reported by row number while the good ones land, and a bad file is refused whole."""

import io
import sys
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import func, select

from relay.core.db import session_scope
from relay.core.settings import PROJECT_ROOT
from relay.models import Appointment, Patient, Referral, ReferringProvider, Specialist
from relay.ops.cli import PROGRESS_FROM_ROWS, main

SAMPLES = PROJECT_ROOT / "docs" / "samples"
# In the order the data refers to itself: a referral names a patient and a specialist.
SAMPLE_ORDER = ("patients", "specialists", "referrals", "appointments")
SAMPLE_COUNTS = {"patients": 5, "specialists": 2, "referrals": 5, "appointments": 3}


def _import(path, kind: str) -> int:
    return main(["import", "csv", str(path), "--kind", kind])


def _line(kind: str, created=0, updated=0, unchanged=0, rejected=0) -> str:
    return f"{kind:15} {created} created, {updated} updated, {unchanged} unchanged, {rejected} rejected"


def test_the_sample_clinic_imports_and_a_second_import_changes_nothing(fresh_demo, capsys):
    for kind in SAMPLE_ORDER:
        assert _import(SAMPLES / f"{kind}.csv", kind) == 0, kind
        out = capsys.readouterr().out
        assert _line(kind, created=SAMPLE_COUNTS[kind]) in out
    with session_scope() as session:
        rosa = session.scalars(select(Patient).where(Patient.mrn == "MGF-40012")).one()
        assert (rosa.phone, rosa.language, rosa.dob) == ("+17735550121", "es", date(1962, 4, 17))
        henry = session.scalars(select(Patient).where(Patient.mrn == "MGF-40016")).one()
        assert (henry.dob, henry.language, henry.phone) == (date(1955, 7, 4), "en", "+17735550125")
        brennan = session.scalars(select(Specialist).where(Specialist.key == "brennan")).one()
        assert [(hours.weekday, hours.start_time, hours.slot_minutes) for hours in brennan.availability] == [
            (1, time(13), 20),
            (3, time(13), 20),
        ]
        assert brennan.phone == "+17735550132"
        imported = session.scalars(select(Referral).where(Referral.external_id.like("MGF-%")))
        referrals = {referral.external_id: referral for referral in imported}
        assert referrals["MGF-R-502"].status == "authorization_pending"
        assert referrals["MGF-R-503"].status == "ready_to_schedule"  # its only appointment was cancelled
        assert referrals["MGF-R-504"].status == "scheduled"
        assert referrals["MGF-R-505"].referring_provider.name == "Dr. Ana Ruiz"
        appointment = session.scalars(select(Appointment).where(Appointment.external_id == "MGF-A-901")).one()
        # 2:20 PM in Chicago (the demo clinic's zone) in February is 20:20 UTC.
        assert appointment.start_at == datetime(2027, 2, 11, 20, 20, tzinfo=UTC)
        assert appointment.referral.external_id == "MGF-R-504"

    for kind in SAMPLE_ORDER:
        assert _import(SAMPLES / f"{kind}.csv", kind) == 0, kind
        out = capsys.readouterr().out
        assert _line(kind, unchanged=SAMPLE_COUNTS[kind]) in out
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Patient).where(Patient.mrn.like("MGF-%"))) == 5
        providers = session.scalars(select(ReferringProvider.key).where(ReferringProvider.key.like("dr-%"))).all()
        assert sorted(providers) == ["dr-ana-ruiz", "dr-ben-harlow"]


def test_a_partial_export_keeps_what_it_does_not_carry(fresh_demo, tmp_path, capsys):
    assert _import(SAMPLES / "patients.csv", "patients") == 0
    partial = tmp_path / "phones.csv"
    partial.write_text("mrn,name,dob,phone,language,insurance_payer\nMGF-40012,Rosa Delgado,1962-04-17,,,Cigna\n")
    assert _import(partial, "patients") == 0
    assert _line("patients", updated=1) in capsys.readouterr().out
    with session_scope() as session:
        rosa = session.scalars(select(Patient).where(Patient.mrn == "MGF-40012")).one()
        assert (rosa.insurance_payer, rosa.phone, rosa.language) == ("Cigna", "+17735550121", "es")
        assert rosa.insurance_member_id == "W7730412"


def test_bad_rows_are_reported_by_row_number_and_the_good_rows_imported(fresh_demo, tmp_path, capsys):
    path = tmp_path / "patients.csv"
    path.write_text(
        "MRN,Name,DOB,Phone\n"
        "CSV-1,Ada Lee,4/5/1980,(773) 555-0141\n"
        "CSV-2,Bo Chen,13/1/1980,(773) 555-0142\n"  # row 3: no 13th month
        "CSV-3,,1980-01-01,(773) 555-0143\n"  # row 4: no name
        "CSV-4,Cy Diaz,1981-02-03,\n"
    )
    assert _import(path, "patients") == 1
    out = capsys.readouterr().out
    assert _line("patients", created=2, rejected=2) in out
    assert "rejected patients row 3: dob is not a date" in out
    assert "rejected patients row 4: name is empty" in out
    assert "13/1/1980" not in out and "Bo Chen" not in out  # no PHI of a refused row in the report
    with session_scope() as session:
        mrns = session.scalars(select(Patient.mrn).where(Patient.mrn.like("CSV-%")).order_by(Patient.mrn)).all()
        assert mrns == ["CSV-1", "CSV-4"]


def test_rows_the_core_refuses_are_reported_and_the_rest_imported(fresh_demo, tmp_path, capsys):
    path = tmp_path / "referrals.csv"
    path.write_text(
        "id,patient_mrn,specialist_key,type,status,reason,received_on\n"
        "CSV-R-1,RFH-100045,okafor,provider,received,Palpitations.,2026-11-02\n"
        "CSV-R-2,NO-SUCH-MRN,okafor,provider,received,Palpitations.,2026-11-02\n"
    )
    assert _import(path, "referrals") == 1
    out = capsys.readouterr().out
    assert _line("referrals", created=1, rejected=1) in out
    assert "rejected referrals row 3 (CSV-R-2): unknown patient" in out and "NO-SUCH-MRN" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mrn,name\nP1,Ada Lee\n", "missing columns for patients: dob"),
        ("mrn,name,dob,favourite colour\n", "unknown columns for patients: favourite colour"),
        ("", "the file is empty"),
    ],
)
def test_a_file_refused_whole_exits_2_with_the_reason(tmp_path, capsys, text, message):
    path = tmp_path / "patients.csv"
    path.write_text(text)
    assert _import(path, "patients") == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_a_file_that_is_not_utf8_or_not_there_exits_2(tmp_path, capsys):
    path = tmp_path / "patients.csv"
    path.write_bytes("mrn,name,dob\nP1,Jos\xe9 Pe\xf1a,1980-01-01\n".encode("cp1252"))
    assert _import(path, "patients") == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert _import(tmp_path / "missing.csv", "patients") == 2
    assert "missing.csv" in capsys.readouterr().err


def test_an_unknown_kind_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        _import(tmp_path / "x.csv", "doctors")
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_big_file_shows_a_progress_bar_on_a_terminal(fresh_demo, tmp_path, monkeypatch, capsys):
    rows = PROGRESS_FROM_ROWS + 100
    big = tmp_path / "patients.csv"
    big.write_text("mrn,name,dob\n" + "".join(f"BIG-{n},Patient {n},1970-01-01\n" for n in range(rows)))
    small = tmp_path / "few.csv"
    small.write_text("mrn,name,dob\nBIG-x,Patient x,1970-01-01\n")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert _import(small, "patients") == 0
    assert terminal.getvalue() == ""  # a small file: no bar
    assert _import(big, "patients") == 0
    assert f"{rows}/{rows}" in terminal.getvalue()
    assert _line("patients", created=rows) in capsys.readouterr().out

"""The CSV reader: the sample files read into the right records, whole-file problems refuse the file,
row problems reject the row by its spreadsheet row number and keep the others."""

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from relay.core.settings import PROJECT_ROOT
from relay.intake.csv_files import CSV_KINDS, CsvHeaderError, read_csv
from relay.intake.records import (
    UNSET,
    AppointmentRecord,
    PatientRecord,
    ProviderRecord,
    Ref,
    ReferralRecord,
    Rejection,
    SpecialistRecord,
    WeeklyHours,
)

SAMPLES = PROJECT_ROOT / "docs" / "samples"
TZ = "America/Chicago"
CHICAGO = ZoneInfo(TZ)


def _sample(kind: str):
    with Path(SAMPLES / f"{kind}.csv").open(newline="", encoding="utf-8-sig") as file:
        return read_csv(file, kind=kind, tz=TZ)


def _by_key(records, cls, key):
    return {getattr(record, key): record for record in records if isinstance(record, cls)}


# --- the sample files -------------------------------------------------------------------------------


def test_every_kind_has_a_sample_that_reads_without_rejections():
    for kind in CSV_KINDS:
        batch = _sample(kind)
        assert batch.rejected == [], kind
        assert batch.records, kind


def test_sample_patients_read_iso_and_us_dates_and_leave_empty_cells_unset():
    patients = _by_key(_sample("patients").records, PatientRecord, "mrn")
    assert patients["MGF-40012"] == PatientRecord(
        mrn="MGF-40012",
        name="Rosa Delgado",
        dob=date(1962, 4, 17),
        phone="(773) 555-0121",
        language="es",
        insurance_payer="Aetna",
        insurance_member_id="W7730412",
    )
    assert {mrn: patient.dob for mrn, patient in patients.items()} == {
        "MGF-40012": date(1962, 4, 17),  # 1962-04-17
        "MGF-40013": date(1949, 11, 23),  # 11/23/1949
        "MGF-40014": date(1991, 3, 8),  # 03/08/1991
        "MGF-40015": date(1978, 12, 2),  # 1978-12-02
        "MGF-40016": date(1955, 7, 4),  # 7/4/1955
    }
    assert patients["MGF-40014"].timezone == "America/Denver"
    assert patients["MGF-40016"].language is UNSET  # empty cell: not carried, never "" or None
    assert patients["MGF-40016"].timezone is UNSET
    assert patients["MGF-40015"].phone == "7735550124"  # as written: the core normalises


def test_sample_specialists_read_weekly_hours_and_insurance():
    specialists = _by_key(_sample("specialists").records, SpecialistRecord, "key")
    assert set(specialists) == {"nguyen", "brennan"}
    brennan = specialists["brennan"]
    assert brennan.availability == [
        WeeklyHours(weekday=1, start=time(13), end=time(17), slot_minutes=20),
        WeeklyHours(weekday=3, start=time(13), end=time(17), slot_minutes=20),
    ]
    assert brennan.insurance_accepted == ["Blue Cross Blue Shield of Illinois", "Medicare", "Cigna"]
    assert brennan.address == "5150 N Milwaukee Ave, Chicago, IL 60630"  # a quoted cell with commas
    assert brennan.prep is UNSET and brennan.prep_es is UNSET
    assert specialists["nguyen"].prep_es == "Traiga una lista de sus medicamentos actuales y de sus análisis recientes."
    assert [hours.weekday for hours in specialists["nguyen"].availability] == [0, 2, 4]
    assert specialists["nguyen"].availability[0].start == time(8, 30)


def test_sample_referrals_read_relay_words_however_written_and_name_their_providers_once():
    batch = _sample("referrals")
    referrals = _by_key(batch.records, ReferralRecord, "external_id")
    assert [referral.status for referral in referrals.values()] == [
        "received",
        "authorization_pending",  # "Authorization pending"
        "ready_to_schedule",  # "Ready to schedule"
        "scheduled",
        "scheduled",
    ]
    assert referrals["MGF-R-504"].type == "follow_up"  # "follow up"
    assert referrals["MGF-R-504"].received_on == date(2026, 11, 5)  # 11/5/2026
    assert referrals["MGF-R-505"].priority == "urgent"
    assert referrals["MGF-R-502"] == ReferralRecord(
        external_id="MGF-R-502",
        patient=Ref(key="MGF-40013"),
        specialist=Ref(key="nguyen"),
        referred_by=Ref(key="dr-ana-ruiz"),
        type="provider",
        status="authorization_pending",
        priority="routine",
        reason="Screening colonoscopy; family history of colon cancer.",
        received_on=date(2026, 11, 9),
        authorization_required=True,
        authorization_status="pending",
        authorization_reference="PA-77120",
        authorization_submitted_on=date(2026, 11, 10),
    )
    assert referrals["MGF-R-501"].authorization_status is UNSET
    assert referrals["MGF-R-503"].referred_by is UNSET
    providers = [record for record in batch.records if isinstance(record, ProviderRecord)]
    assert [(provider.key, provider.name) for provider in providers] == [
        ("dr-ana-ruiz", "Dr. Ana Ruiz"),
        ("dr-ben-harlow", "Dr. Ben Harlow"),
    ]
    # A provider goes into the batch before the first referral that names them.
    assert batch.records.index(providers[1]) < batch.records.index(referrals["MGF-R-504"])


def test_sample_appointments_are_wall_clock_times_in_the_clinic_zone():
    appointments = _by_key(_sample("appointments").records, AppointmentRecord, "external_id")
    assert appointments["MGF-A-901"] == AppointmentRecord(
        external_id="MGF-A-901",
        referral=Ref(key="MGF-R-504"),
        start=datetime(2027, 2, 11, 14, 20, tzinfo=CHICAGO),
        duration_minutes=20,
        status="confirmed",
    )
    assert appointments["MGF-A-902"].start == datetime(2027, 1, 27, 9, 0, tzinfo=CHICAGO)  # 1/27/2027 9:00 AM
    assert appointments["MGF-A-902"].specialist == Ref(key="nguyen")
    assert appointments["MGF-A-903"].start == datetime(2027, 2, 2, 13, 40, tzinfo=CHICAGO)  # 2/2/2027 1:40pm
    assert appointments["MGF-A-903"].start.utcoffset() == timedelta(hours=-6)


# --- whole-file problems ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "words"),
    [
        ("mrn,name,dob\n", "doctors", ["unknown kind", "doctors", "patients"]),
        ("", "patients", ["empty"]),
        ("\n\n", "patients", ["empty"]),
        (",,\n", "patients", ["empty"]),
        ("mrn,phone\nP1,312\n", "patients", ["missing columns", "name", "dob"]),
        ("mrn,name,dob,Shoe Size,email\n", "patients", ["unknown columns", "Shoe Size", "email"]),
        ("mrn,name,dob,Name\n", "patients", ["twice", "name"]),
        ("id,referral_id\n", "appointments", ["missing columns", "start"]),
    ],
)
def test_a_whole_file_problem_refuses_the_file_and_names_it(text, kind, words):
    with pytest.raises(CsvHeaderError) as caught:
        read_csv(text, kind=kind, tz=TZ)
    for word in words:
        assert word in str(caught.value)


def test_an_unknown_clinic_zone_refuses_the_file():
    with pytest.raises(CsvHeaderError, match="Mars/Olympus"):
        read_csv("mrn,name,dob\n", kind="patients", tz="Mars/Olympus")


def test_header_names_ignore_case_spaces_hyphens_and_a_byte_order_mark():
    text = (
        "\ufeffMRN, Name ,DOB,Insurance Payer,insurance-member-id,PHONE\nP1,Ada Lee,2000-01-02,Cigna,C1,312 555 0101\n"
    )
    batch = read_csv(text, kind="patients", tz=TZ)
    assert batch.rejected == []
    assert batch.records == [
        PatientRecord(
            mrn="P1",
            name="Ada Lee",
            dob=date(2000, 1, 2),
            phone="312 555 0101",
            insurance_payer="Cigna",
            insurance_member_id="C1",
        )
    ]


def test_a_header_without_rows_is_an_empty_batch():
    batch = read_csv("id,referral_id,start\n", kind="appointments", tz=TZ)
    assert batch.records == [] and batch.rejected == []


# --- row problems -----------------------------------------------------------------------------------


def test_bad_rows_are_rejected_by_spreadsheet_row_number_and_the_good_rows_kept():
    text = (
        "mrn,name,dob,language\n"  # row 1
        "P1,Ada Lee,1980-05-06,en\n"  # row 2
        "P2,Bo Chen,31/12/1980,en\n"  # row 3: day first is not a US date
        "P3,,1980-05-06,en\n"  # row 4: no name
        "\n"  # row 5: blank, skipped but counted as a spreadsheet shows it
        ",,,\n"  # row 6: a blank row a spreadsheet writes
        "P4,Cy Diaz,2/30/1980,en\n"  # row 7: no such day
        "P5,Di Evans,1975-01-02\n"  # row 8: a short row: the missing cell is empty
        "P1,Ada Lee again,1980-05-06,en\n"  # row 9: the same MRN as row 2
        '"P6","Ed\nFox",1990-01-01,es\n'  # row 10: a quoted line break is still one row
        "P7,Flo Gray,1990-01-01,es,extra\n"  # row 11: more cells than columns
        "P8,Gus Hill,1990-01-01,en,,\n"  # row 12: empty trailing cells are harmless
    )
    batch = read_csv(text, kind="patients", tz=TZ)
    assert [(r.kind, r.record) for r in batch.rejected] == [
        ("patients", "row 3"),
        ("patients", "row 4"),
        ("patients", "row 7"),
        ("patients", "row 9"),
        ("patients", "row 11"),
    ]
    reasons = [r.reason for r in batch.rejected]
    assert "dob is not a date" in reasons[0]
    assert "31/12/1980" not in reasons[0]  # a date of birth is never echoed into a report
    assert reasons[1] == "name is empty"
    assert "dob is not a date" in reasons[2]
    assert reasons[3] == "mrn P1 is also on row 2"
    assert "5 cells" in reasons[4]
    assert [record.mrn for record in batch.records] == ["P1", "P5", "P6", "P8"]
    assert batch.records[1].language is UNSET


def test_a_rejected_row_does_not_claim_its_identifier():
    text = "mrn,name,dob\nP1,Ada Lee,not a date\nP1,Ada Lee,1980-05-06\n"
    batch = read_csv(text, kind="patients", tz=TZ)
    assert [r.record for r in batch.rejected] == ["row 2"]
    assert [record.dob for record in batch.records] == [date(1980, 5, 6)]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("status", "booked", "status 'booked' is not one of: received, authorization_pending"),
        ("type", "walk-in", "type 'walk-in' is not one of"),
        ("priority", "asap", "priority 'asap' is not one of: routine, urgent, emergency"),
        ("authorization_required", "maybe", "authorization_required 'maybe' is not yes or no"),
        ("authorization_status", "waiting", "authorization_status 'waiting' is not one of: approved, pending, denied"),
        ("received_on", "yesterday", "received_on 'yesterday' is not a date"),
        ("received_on", "11/5/26", "received_on '11/5/26' is not a date"),  # two-digit years are ambiguous
        ("patient_mrn", "", "patient_mrn is empty"),
    ],
)
def test_a_referral_row_with_a_bad_value_is_rejected_with_a_plain_reason(column, value, reason):
    cells = {
        "id": "R1",
        "patient_mrn": "P1",
        "specialist_key": "s1",
        "type": "provider",
        "status": "received",
        "priority": "routine",
        "reason": "Knee pain.",
        "received_on": "2026-11-02",
        "authorization_required": "no",
        "authorization_status": "",
    }
    cells[column] = value
    text = ",".join(cells) + "\n" + ",".join(cells.values()) + "\n"
    batch = read_csv(text, kind="referrals", tz=TZ)
    assert batch.records == []
    assert len(batch.rejected) == 1
    assert batch.rejected[0].record == "row 2"
    assert batch.rejected[0].reason.startswith(reason)


@pytest.mark.parametrize(
    ("written", "word"),
    [
        ("Ready to schedule", "ready_to_schedule"),
        ("READY-TO-SCHEDULE", "ready_to_schedule"),
        ("ready_to_schedule", "ready_to_schedule"),
        ("  No   show ", "no_show"),
    ],
)
def test_relay_words_are_accepted_with_spaces_hyphens_and_any_case(written, word):
    header = "id,patient_mrn,specialist_key,type,status,reason,received_on\n"
    text = header + f"R1,P1,s1,Second opinion,{written},x,2026-11-02\n"
    (referral,) = read_csv(text, kind="referrals", tz=TZ).records
    assert referral.type == "second_opinion"
    assert referral.status == word


# --- dates and times --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("1957-09-03", date(1957, 9, 3)),
        ("1957-9-3", date(1957, 9, 3)),
        ("9/3/1957", date(1957, 9, 3)),
        ("09/03/1957", date(1957, 9, 3)),
        ("12/31/1999", date(1999, 12, 31)),
        ("2/29/2000", date(2000, 2, 29)),
    ],
)
def test_dates_in_iso_and_us_formats(written, expected):
    (patient,) = read_csv(f"mrn,name,dob\nP1,Ada Lee,{written}\n", kind="patients", tz=TZ).records
    assert patient.dob == expected


@pytest.mark.parametrize(
    ("written", "wall_clock"),
    [
        ("2026-12-01 10:30", datetime(2026, 12, 1, 10, 30)),
        ("2026-12-01T10:30", datetime(2026, 12, 1, 10, 30)),
        ("2026-12-01 10:30:00", datetime(2026, 12, 1, 10, 30)),
        ("2026-12-01 9:05", datetime(2026, 12, 1, 9, 5)),
        ("2026-12-01 2:15 PM", datetime(2026, 12, 1, 14, 15)),
        ("12/1/2026 10:30 AM", datetime(2026, 12, 1, 10, 30)),
        ("12/01/2026 10:30", datetime(2026, 12, 1, 10, 30)),
        ("12/1/2026 2:15pm", datetime(2026, 12, 1, 14, 15)),
        ("12/1/2026 2:15 p.m.", datetime(2026, 12, 1, 14, 15)),
        ("12/1/2026 14:15", datetime(2026, 12, 1, 14, 15)),
        ("12/1/2026 12:05 AM", datetime(2026, 12, 1, 0, 5)),
        ("12/1/2026 12:30 PM", datetime(2026, 12, 1, 12, 30)),
        ("7/1/2027 9am", datetime(2027, 7, 1, 9, 0)),  # summer time: the zone's offset is -5
    ],
)
def test_appointment_times_are_wall_clock_times_in_the_clinic_zone(written, wall_clock):
    (appointment,) = read_csv(f"id,referral_id,start\nA1,R1,{written}\n", kind="appointments", tz=TZ).records
    assert appointment.start == wall_clock.replace(tzinfo=CHICAGO)
    assert appointment.start.utcoffset() == CHICAGO.utcoffset(wall_clock)


def test_a_time_with_its_own_offset_keeps_the_instant():
    (appointment,) = read_csv("id,referral_id,start\nA1,R1,2026-12-01T16:30Z\n", kind="appointments", tz=TZ).records
    assert appointment.start == datetime(2026, 12, 1, 10, 30, tzinfo=CHICAGO)


def test_the_same_file_means_other_instants_in_another_clinic_zone():
    text = "id,referral_id,start\nA1,R1,2026-12-01 10:30\n"
    (chicago,) = read_csv(text, kind="appointments", tz=TZ).records
    (new_york,) = read_csv(text, kind="appointments", tz="America/New_York").records
    assert chicago.start - new_york.start == timedelta(hours=1)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("2026-12-01", "has no time of day"),
        ("12/1/2026", "has no time of day"),
        ("12/1/2026 13:15 PM", "is not a time of day"),
        ("12/1/2026 10", "is not a time of day"),
        ("12/1/2026 25:00", "is not a time of day"),
        ("next tuesday", "is not a date and time"),
    ],
)
def test_an_unreadable_appointment_time_rejects_the_row(written, reason):
    batch = read_csv(f"id,referral_id,start\nA1,R1,{written}\n", kind="appointments", tz=TZ)
    assert batch.records == []
    assert batch.rejected[0].record == "row 2"
    assert reason in batch.rejected[0].reason


def test_a_wall_time_skipped_by_the_spring_forward_is_rejected():
    text = (
        "id,referral_id,start\n"
        "A1,R1,2027-03-14 02:30\n"  # 2:00-3:00 does not exist in Chicago that day
        "A2,R2,3/14/2027 3:30 AM\n"
        "A3,R3,2027-11-07 01:30\n"  # happens twice: the first (still summer time) is taken
    )
    batch = read_csv(text, kind="appointments", tz=TZ)
    assert [(r.record, r.reason) for r in batch.rejected] == [
        (
            "row 2",
            "start '2027-03-14 02:30' does not exist in America/Chicago: the clocks skip that hour that day",
        )
    ]
    a2, a3 = batch.records
    assert a2.start.utcoffset() == timedelta(hours=-5)
    assert a3.start.utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize("value", ["half an hour", "0", "-15", "30.5"])
def test_a_bad_number_of_minutes_rejects_the_row(value):
    batch = read_csv(
        f"id,referral_id,start,duration_minutes\nA1,R1,2027-01-05 9:00,{value}\n", kind="appointments", tz=TZ
    )
    assert batch.records == []
    assert batch.rejected == [
        Rejection("appointments", "row 2", batch.rejected[0].reason),
    ]
    assert "duration_minutes" in batch.rejected[0].reason


# --- specialists' hours -----------------------------------------------------------------------------

_SPECIALIST = (
    "key,name,specialty,facility,address,phone,days,start,end,slot_minutes\ns1,Dr. A,cardiology,F,A,3125550101,"
)


@pytest.mark.parametrize(
    ("hours", "weekdays", "slot"),
    [
        ("Mon-Fri,9:00,17:00,", [0, 1, 2, 3, 4], 30),  # no slot length: 30 minutes
        ('"Tue, Thursday",9:00,12:00,15', [1, 3], 15),
        ("sat;SUN,9am,1pm,60", [5, 6], 60),
    ],
)
def test_weekly_hours_from_days_start_end_and_slot_length(hours, weekdays, slot):
    (specialist,) = read_csv(_SPECIALIST + hours + "\n", kind="specialists", tz=TZ).records
    assert [block.weekday for block in specialist.availability] == weekdays
    assert {block.slot_minutes for block in specialist.availability} == {slot}


def test_weekly_hours_left_empty_are_kept_and_none_clears_them():
    (kept,) = read_csv(_SPECIALIST + ",,,\n", kind="specialists", tz=TZ).records
    (cleared,) = read_csv(_SPECIALIST + "none,,,\n", kind="specialists", tz=TZ).records
    assert kept.availability is UNSET
    assert cleared.availability == []


@pytest.mark.parametrize(
    ("hours", "reason"),
    [
        ("Mon,,17:00,", "start is empty"),
        ("Mon,17:00,9:00,", "end must be later than start"),
        (",9:00,17:00,", "days is empty but start, end or slot_minutes is given"),
        ("Funday,9:00,17:00,", "'funday' is not a weekday"),
        ("Fri-Mon,9:00,17:00,", "a range from the earlier day"),
    ],
)
def test_unreadable_weekly_hours_reject_the_row(hours, reason):
    batch = read_csv(_SPECIALIST + hours + "\n", kind="specialists", tz=TZ)
    assert batch.records == []
    assert reason in batch.rejected[0].reason


def test_insurance_lists_are_split_on_semicolons():
    text = "key,name,specialty,facility,address,phone,insurance_accepted\ns1,Dr. A,x,F,A,3125550101, Aetna ;Cigna;;\n"
    (specialist,) = read_csv(text, kind="specialists", tz=TZ).records
    assert specialist.insurance_accepted == ["Aetna", "Cigna"]


def test_progress_is_reported_for_every_row():
    seen: list[int] = []
    read_csv(
        "mrn,name,dob\nP1,A,2000-01-01\nP2,B,bad\n\nP3,C,2000-01-01\n", kind="patients", tz=TZ, progress=seen.append
    )
    assert seen == [2, 3, 4, 5]

"""POST /api/patients and PUT /api/patients/{mrn}: one patient at a time, for systems that push changes.

Both run the import core (as the FHIR and CSV imports do). The answer leaves
out the date of birth and all but the end of the phone number: the caller
has them, and minimum necessary holds for the API too.
"""

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, HTTPException, Path, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, with_config
from sqlalchemy import select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12

from api.deps import SessionDep, require_api_token
from api.imports import AUTH_PROBLEM, IsoDate, Problem, import_one
from relay.intake.records import PatientRecord
from relay.language.languages import Language, language_of
from relay.models import Patient

router = APIRouter(prefix="/api", tags=["patients"], dependencies=[Depends(require_api_token)])

SOURCE = "api:patients"


def _known_zone(value: str | None) -> str | None:
    if value is not None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name like America/Chicago)") from None
    return value


Name = Annotated[str, Field(min_length=1, max_length=200)]


# TypedDicts rather than models: a key left out and a key sent as null differ (left out keeps the stored
# value, null clears it), and a field that may not be empty can be optional without being nullable.
@with_config(ConfigDict(extra="forbid"))
class PatientDetails(TypedDict, total=False):
    # The constraints go on the str inside the `| None`: on the union, a null fails them with a TypeError.
    phone: Annotated[
        Annotated[str, Field(max_length=32)] | None,
        Field(description="A mobile number in any usual format; null or unusable: kept, never texted"),
    ]
    language: Annotated[
        str,
        Field(
            max_length=35,
            pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$",
            description="A language tag (en, es, es-MX ...): Relay writes Spanish or English",
        ),
    ]
    timezone: Annotated[
        Annotated[str, Field(max_length=64)] | None,
        AfterValidator(_known_zone),
        Field(description="IANA zone; null: the clinic's"),
    ]
    insurance_payer: Annotated[str, Field(max_length=200)] | None
    insurance_member_id: Annotated[str, Field(max_length=64)] | None
    sms_consent: Annotated[
        bool,
        Field(
            description="Consent to texts when created or when the number changes (default true); STOP/START "
            "rule after that"
        ),
    ]


@with_config(ConfigDict(extra="forbid"))
class PatientChanges(PatientDetails, total=False):
    """PUT: a field left out keeps its stored value; null clears the ones that may be empty. A new patient
    needs name and dob."""

    name: Name
    dob: IsoDate


@with_config(ConfigDict(extra="forbid"))
class PatientIn(PatientDetails):
    """POST: a new patient."""

    mrn: Annotated[str, Field(min_length=1, max_length=64, description="The EHR's medical record number")]
    name: Name
    dob: IsoDate


class PatientOut(BaseModel):
    mrn: str
    name: str
    language: Language = Field(description="The language Relay writes to the patient in")
    timezone: str | None = Field(description="null: the clinic's")
    phone_ending: str | None = Field(description="The last 4 digits of the mobile on file; null: none usable")
    textable: bool = Field(description="Automated texts may go: a usable mobile and consent")
    sms_consent: bool
    mobile_problem: str | None = Field(description="Why the number on file cannot be texted, for staff")


PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Rejected by the import (the reason says why)"},
    **AUTH_PROBLEM,
    422: {"description": "Malformed body"},
}

Mrn = Annotated[str, Path(description="The medical record number", min_length=1, max_length=64)]


@router.post(
    "/patients",
    response_model=PatientOut,
    status_code=201,
    summary="Create a patient",
    responses={**PROBLEMS, 409: {"model": Problem, "description": "A patient with this MRN exists (PUT updates)"}},
)
def create_patient(session: SessionDep, payload: PatientIn) -> PatientOut:
    mrn = payload["mrn"]
    if _find(session, mrn) is not None:
        raise HTTPException(status_code=409, detail=f"a patient with MRN {mrn!r} exists; PUT updates it")
    import_one(session, _record(mrn, payload), source=SOURCE)
    return _stored(session, mrn)


@router.put(
    "/patients/{mrn}",
    response_model=PatientOut,
    summary="Create or update a patient by MRN",
    description="A new patient needs name and dob. 201 when created, 200 when updated or unchanged.",
    responses={**PROBLEMS, 201: {"model": PatientOut, "description": "Created"}},
)
def put_patient(session: SessionDep, mrn: Mrn, payload: PatientChanges, response: Response) -> PatientOut:
    if import_one(session, _record(mrn, payload), source=SOURCE):
        response.status_code = 201
    return _stored(session, mrn)


def _record(mrn: str, payload: PatientChanges | PatientIn) -> PatientRecord:
    # Only the keys sent: the rest stays UNSET, which the core reads as "keep what is stored".
    sent: dict[str, Any] = dict(payload)
    sent.pop("mrn", None)
    return PatientRecord(mrn=mrn, **sent)


def _find(session: Session, mrn: str) -> Patient | None:
    return session.scalars(select(Patient).filter_by(mrn=mrn)).one_or_none()


def _stored(session: Session, mrn: str) -> PatientOut:
    patient = _find(session, mrn)
    if patient is None:  # the core said it imported it
        raise RuntimeError("the imported patient is not in the database")
    return PatientOut(
        mrn=patient.mrn,
        name=patient.name,
        language=language_of(patient.language),
        timezone=patient.timezone,
        phone_ending=patient.phone[-4:] if patient.phone else None,
        textable=patient.phone is not None and patient.sms_consent,
        sms_consent=patient.sms_consent,
        mobile_problem=patient.mobile_problem,
    )

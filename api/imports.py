"""POST /api/import/fhir and /api/import/csv: clinic data in bulk, through the one import core.

The single-record doors (api/patients.py, referrals, appointments) go through
the same core with `import_one`, so every door upserts, resolves references,
normalises phones and re-plans outreach the same way.
"""

import io
import json
import re
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Header, HTTPException, Query, Request, UploadFile
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy.orm import Session

from api.deps import SessionDep, require_api_token
from relay.core.settings import get_settings
from relay.intake.core import import_batch
from relay.intake.csv_files import CsvHeaderError, read_csv
from relay.intake.fhir import FhirInputError, read_bundle, read_ndjson
from relay.intake.records import KIND_OF, Batch, Record
from relay.intake.report import ImportReport
from relay.models import utcnow
from relay.records.clinics import get_clinic

router = APIRouter(prefix="/api", tags=["import"], dependencies=[Depends(require_api_token)])

JSON_TYPES = ("application/fhir+json", "application/json")
# Bulk Data ($export) writes one resource per line.
NDJSON_TYPES = ("application/fhir+ndjson", "application/x-ndjson", "application/ndjson")
# The kinds relay.intake.csv_files reads (CSV_KINDS): a Literal so the OpenAPI document lists them and
# FastAPI's 422 names the allowed ones; tests/api/test_import_api.py holds the two to each other.
CsvKind = Literal["patients", "specialists", "referrals", "appointments"]


class OutcomeCounts(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: int


class RejectionOut(BaseModel):
    kind: str = Field(description="patients, referrals, ... or `records` when the reader could not tell")
    record: str = Field(description="The record's identifier, or where it was (`entry 4`, `row 12`)")
    reason: str


class ImportReportOut(BaseModel):
    counts: dict[str, OutcomeCounts] = Field(description="Per kind the import had: what happened to its records")
    rejected: list[RejectionOut] = Field(description="Each rejected record and why; the others were imported")
    referrals_replanned: int = Field(description="Referrals whose outreach plan was re-planned")


class Problem(BaseModel):
    detail: str


AUTH_PROBLEM: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or wrong bearer token"}
}

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date_text(value: object) -> object:
    # Pydantic alone also takes timestamps and datetimes; a record's date should be written one way.
    if not (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        raise ValueError("write the date as YYYY-MM-DD")
    return value


# A date in a request body of the single-record doors.
IsoDate = Annotated[date, BeforeValidator(_iso_date_text), Field(description="YYYY-MM-DD")]


def run_import(session: Session, batch: Batch, *, source: str) -> ImportReport:
    # The core logs the counts (never the records: ids and reasons can name patients).
    return import_batch(session, batch, now=utcnow(), source=source)


def import_one(session: Session, record: Record, *, source: str) -> bool:
    """Import one record as a one-record batch; True when it was created. A rejection is a 400 with its reason."""
    report = run_import(session, Batch(records=[record]), source=source)
    if report.rejections:
        # The core wrote nothing of a rejected record; raising rolls the rest of the request back too.
        raise HTTPException(status_code=400, detail="; ".join(item.reason for item in report.rejections))
    return report.counts[KIND_OF[type(record)]]["created"] > 0


async def raw_body(request: Request) -> bytes:
    """The body as sent: FHIR clients send `application/fhir+json`, which FastAPI does not parse as JSON."""
    return await request.body()


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _bundle_batch(body: bytes) -> Batch:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested input
        raise HTTPException(status_code=400, detail=f"the body is not valid JSON: {exc}") from None
    try:
        return read_bundle(data, mrn_system=get_settings().fhir_mrn_system)
    except FhirInputError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


def _ndjson_batch(body: bytes) -> Batch:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(status_code=400, detail="the body is not UTF-8 text") from None
    try:
        # Lines end at \n only: str.splitlines would also cut at U+2028, which JSON strings may hold raw.
        return read_ndjson(text.split("\n"), mrn_system=get_settings().fhir_mrn_system)
    except RecursionError:  # json.loads on an absurdly nested line
        raise HTTPException(status_code=400, detail="a line is nested too deeply to be a FHIR resource") from None


_FHIR_BODY = {
    "required": True,
    "content": {
        **{
            media_type: {
                "schema": {
                    "type": "object",
                    "description": "A FHIR R4 Bundle of type collection, batch, transaction or searchset",
                    "required": ["resourceType"],
                    "properties": {"resourceType": {"type": "string", "enum": ["Bundle"]}},
                }
            }
            for media_type in JSON_TYPES
        },
        **{
            media_type: {"schema": {"type": "string", "description": "One FHIR R4 resource per line (Bulk Data)"}}
            for media_type in NDJSON_TYPES
        },
    },
}


@router.post(
    "/import/fhir",
    response_model=ImportReportOut,
    summary="Import a FHIR R4 Bundle (or Bulk Data NDJSON): patients, practitioners, referrals, appointments ...",
    description=(
        "Upserts by identifier: sending the same data again changes nothing. Entries that cannot be imported "
        "(an unknown reference, a missing field) are listed in `rejected` with the reason; the others are "
        "imported. Touched referrals have their outreach re-planned."
    ),
    openapi_extra={"requestBody": _FHIR_BODY},
    responses={
        400: {"model": Problem, "description": "Not JSON, or not a Bundle: nothing was imported"},
        **AUTH_PROBLEM,
        415: {"model": Problem, "description": "A content type other than the FHIR JSON or NDJSON ones"},
    },
)
def import_fhir(
    session: SessionDep,
    body: Annotated[bytes, Depends(raw_body)],
    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> ImportReportOut:
    media_type = _media_type(content_type)
    if media_type in JSON_TYPES:
        batch = _bundle_batch(body)
    elif media_type in NDJSON_TYPES:
        batch = _ndjson_batch(body)
    else:
        accepted = ", ".join(JSON_TYPES + NDJSON_TYPES)
        raise HTTPException(status_code=415, detail=f"send the data as one of: {accepted}")
    report = run_import(session, batch, source="api:fhir")
    return ImportReportOut.model_validate(report.as_dict())


@router.post(
    "/import/csv",
    response_model=ImportReportOut,
    summary="Import a CSV file of patients, specialists, referrals or appointments",
    description=(
        "A multipart upload (field `file`), UTF-8 with a header row; times in the clinic's time zone unless the "
        "file says otherwise. Rows that cannot be imported are listed in `rejected`; the others are imported."
    ),
    responses={
        400: {"model": Problem, "description": "Missing or unknown columns, or not UTF-8: nothing was imported"},
        **AUTH_PROBLEM,
        422: {"description": "No file, or an unknown kind (the allowed kinds are listed)"},
    },
)
def import_csv(
    session: SessionDep,
    kind: Annotated[CsvKind, Query(description="What the file holds")],
    file: Annotated[UploadFile, File(description="The CSV file")],
) -> ImportReportOut:
    try:
        # utf-8-sig: spreadsheets write a byte-order mark before the header.
        text = file.file.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(status_code=400, detail="the file is not UTF-8 text") from None
    try:
        batch = read_csv(io.StringIO(text, newline=""), kind=kind, tz=get_clinic(session).timezone)
    except CsvHeaderError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    report = run_import(session, batch, source=f"api:csv:{kind}")
    return ImportReportOut.model_validate(report.as_dict())

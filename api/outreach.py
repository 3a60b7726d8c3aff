"""GET /api/outreach?referral_id=...: a referral's outreach plan, as the database holds it."""

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import or_, select

from api.deps import SessionDep, require_api_token
from api.referrals import Problem, find_referral
from relay.language.languages import Language, language_of
from relay.models import Appointment, OutreachChannel, OutreachKind, OutreachState, PlannedOutreach
from relay.records.clinics import get_clinic

router = APIRouter(prefix="/api", tags=["outreach"], dependencies=[Depends(require_api_token)])


class OutreachOut(BaseModel):
    id: int
    kind: OutreachKind = Field(description="leakage_handoff is a staff handoff, not a text")
    template: str
    channel: OutreachChannel = Field(description="staff: work that goes to the handoff queue")
    language: Language = Field(description="From the patient's language")
    due_at: datetime = Field(description="ISO 8601 with the clinic's UTC offset")
    valid_until: datetime | None = Field(description="Not sent after this (clinic's offset); null: no limit")
    state: OutreachState
    error_code: str | None = Field(
        description="Why it was skipped or cancelled (no_consent, past_due, expired, quiet_hours, too_late, "
        "superseded) or the sender's failure code"
    )
    appointment_id: str | None = Field(description="The appointment it is about (external id, else Relay's id)")
    sent_at: datetime | None


@router.get(
    "/outreach",
    response_model=list[OutreachOut],
    summary="A referral's outreach plan (its own rows and its appointments'), by due time",
    responses={
        400: {"model": Problem, "description": "referral_id is missing"},
        401: {"model": Problem, "description": "Missing or wrong bearer token"},
        404: {"model": Problem, "description": "No such referral"},
    },
)
def list_outreach(
    session: SessionDep,
    referral_id: Annotated[
        str | None, Query(description="External id (e.g. RF-2001) or Relay's numeric id", max_length=64)
    ] = None,
) -> list[OutreachOut]:
    if not referral_id:
        raise HTTPException(status_code=400, detail="referral_id is required")
    referral = find_referral(session, referral_id)
    if referral is None:
        raise HTTPException(status_code=404, detail=f"no referral with id {referral_id!r}")
    zone = ZoneInfo(get_clinic(session).timezone)
    appointments = {a.id: a for a in session.scalars(select(Appointment).filter_by(referral_id=referral.id))}
    rows = session.scalars(
        select(PlannedOutreach)
        .where(
            or_(
                PlannedOutreach.referral_id == referral.id,
                PlannedOutreach.appointment_id.in_(list(appointments) or [-1]),
            )
        )
        .order_by(PlannedOutreach.due_at, PlannedOutreach.id)
    )
    return [_out(row, zone, appointments) for row in rows]


def _out(row: PlannedOutreach, zone: ZoneInfo, appointments: dict[int, Appointment]) -> OutreachOut:
    appointment = appointments.get(row.appointment_id) if row.appointment_id else None
    return OutreachOut(
        id=row.id,
        kind=row.kind,
        template=row.template,
        channel=row.channel,
        language=language_of(row.language),
        due_at=row.due_at.astimezone(zone),
        valid_until=row.valid_until.astimezone(zone) if row.valid_until else None,
        state=row.state,
        error_code=row.error_code,
        appointment_id=(appointment.external_id or str(appointment.id)) if appointment else None,
        sent_at=row.sent_at.astimezone(zone) if row.sent_at else None,
    )

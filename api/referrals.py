"""GET /api/referrals/{id}: a referral as the EHR or staff see it (without the clinical reason)."""

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import SessionDep, require_api_token
from relay.clinics import get_clinic
from relay.models import Referral

router = APIRouter(prefix="/api", tags=["referrals"], dependencies=[Depends(require_api_token)])


class SpecialistOut(BaseModel):
    key: str
    name: str
    specialty: str
    facility: str


class AuthorizationOut(BaseModel):
    required: bool
    status: str | None
    submitted_on: date | None
    payer_reference: str | None


class AppointmentOut(BaseModel):
    id: str
    status: str
    start: datetime  # ISO 8601 with the clinic's UTC offset
    version: int


class ReferralOut(BaseModel):
    id: str
    patient_mrn: str
    type: str
    status: str
    priority: str
    received_on: date
    specialist: SpecialistOut
    authorization: AuthorizationOut
    appointment: AppointmentOut | None


def find_referral(session: Session, referral_id: str) -> Referral | None:
    """By external id (as the EHR sends it), or by our numeric id."""
    referral = session.scalars(select(Referral).filter_by(external_id=referral_id)).one_or_none()
    if referral is None and referral_id.isdigit():
        referral = session.get(Referral, int(referral_id))
    return referral


def referral_out(referral: Referral, tz: str) -> ReferralOut:
    appointment = referral.current_appointment
    return ReferralOut(
        id=referral.external_id,
        patient_mrn=referral.patient.mrn,
        type=referral.type,
        status=referral.status,
        priority=referral.priority,
        received_on=referral.received_on,
        specialist=SpecialistOut.model_validate(referral.specialist, from_attributes=True),
        authorization=AuthorizationOut(
            required=referral.authorization_required,
            status=referral.authorization_status,
            submitted_on=referral.authorization_submitted_on,
            payer_reference=referral.authorization_reference,
        ),
        appointment=AppointmentOut(
            id=appointment.external_id or str(appointment.id),
            status=appointment.status,
            start=appointment.start_at.astimezone(ZoneInfo(tz)),
            version=appointment.version,
        )
        if appointment
        else None,
    )


@router.get(
    "/referrals/{referral_id}",
    response_model=ReferralOut,
    responses={401: {"description": "Missing or wrong bearer token"}, 404: {"description": "No such referral"}},
)
def get_referral(
    session: SessionDep,
    referral_id: Annotated[str, Path(description="External id (e.g. RF-2001) or Relay's numeric id", max_length=64)],
) -> ReferralOut:
    referral = find_referral(session, referral_id)
    if referral is None:
        raise HTTPException(status_code=404, detail=f"no referral with id {referral_id!r}")
    return referral_out(referral, get_clinic(session).timezone)

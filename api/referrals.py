"""GET /api/referrals/{id}: a referral as the EHR or staff see it (without the clinical reason).
POST /api/referrals/{id}/status: change its status as the EHR or staff would; the outreach re-plans.
"""

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import SessionDep, require_api_token
from relay.models import (
    AppointmentStatus,
    AuthorizationStatus,
    Referral,
    ReferralPriority,
    ReferralStatus,
    ReferralType,
    utcnow,
)
from relay.records.clinics import get_clinic
from relay.referrals.transitions import InvalidTransition, change_referral_status

router = APIRouter(prefix="/api", tags=["referrals"], dependencies=[Depends(require_api_token)])


class SpecialistOut(BaseModel):
    key: str
    name: str
    specialty: str
    facility: str


class AuthorizationOut(BaseModel):
    required: bool
    status: AuthorizationStatus | None
    submitted_on: date | None
    payer_reference: str | None


class AppointmentOut(BaseModel):
    id: str
    status: AppointmentStatus
    start: datetime  # ISO 8601 with the clinic's UTC offset
    version: int


class Problem(BaseModel):
    detail: str


class TransitionProblem(BaseModel):
    class Detail(BaseModel):
        message: str
        current: ReferralStatus
        requested: str
        allowed: list[ReferralStatus] = Field(description="The statuses this referral may move to now")

    detail: Detail


class AuthorizationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AuthorizationStatus | None = None
    reference: str | None = Field(default=None, max_length=64, description="The payer's reference number")
    submitted_on: date | None = Field(default=None, description="YYYY-MM-DD")


class StatusChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ReferralStatus
    authorization: AuthorizationIn | None = Field(
        default=None, description="Prior authorization details, where relevant; given fields are updated"
    )


class ReferralOut(BaseModel):
    id: str
    patient_mrn: str
    type: ReferralType
    status: ReferralStatus
    priority: ReferralPriority
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


ReferralId = Annotated[str, Path(description="External id (e.g. RF-2001) or Relay's numeric id", max_length=64)]


@router.get(
    "/referrals/{referral_id}",
    response_model=ReferralOut,
    responses={401: {"description": "Missing or wrong bearer token"}, 404: {"description": "No such referral"}},
)
def get_referral(session: SessionDep, referral_id: ReferralId) -> ReferralOut:
    return referral_out(_get(session, referral_id), get_clinic(session).timezone)


# The API token is shared, not per person; staff accounts come with the console.
API_ACTOR = "api"


@router.post(
    "/referrals/{referral_id}/status",
    response_model=ReferralOut,
    summary="Change a referral's status (and authorization) as the EHR or staff would",
    description=(
        "Validates the transition: received -> authorization_pending | ready_to_schedule | declined | cancelled; "
        "authorization_pending -> ready_to_schedule | declined | cancelled; ready_to_schedule -> scheduled | "
        "cancelled; scheduled -> completed | no_show | cancelled | ready_to_schedule; no_show -> "
        "ready_to_schedule | scheduled | cancelled; cancelled -> ready_to_schedule | scheduled; completed and "
        "declined are final. `scheduled` needs a live appointment (book one instead). completed, no_show and "
        "cancelled end the live appointment and free its slot; ready_to_schedule from scheduled cancels it. "
        "Posting the current status again only updates the authorization. The referral's outreach is re-planned "
        "(see GET /api/outreach)."
    ),
    responses={
        400: {"model": TransitionProblem, "description": "Transition not allowed; lists the allowed ones"},
        401: {"model": Problem, "description": "Missing or wrong bearer token"},
        404: {"model": Problem, "description": "No such referral"},
        422: {"description": "Malformed body"},
    },
)
def change_status(session: SessionDep, referral_id: ReferralId, payload: StatusChangeIn) -> ReferralOut:
    referral = _get(session, referral_id)
    authorization = payload.authorization.model_dump(exclude_none=True) if payload.authorization else None
    try:
        change_referral_status(
            session,
            referral=referral,
            status=payload.status,
            now=utcnow(),
            actor=API_ACTOR,
            authorization=authorization,
        )
    except InvalidTransition as exc:
        raise HTTPException(
            status_code=400,
            detail={
                "message": str(exc),
                "current": exc.current,
                "requested": exc.requested,
                "allowed": list(exc.allowed),
            },
        ) from None
    return referral_out(referral, get_clinic(session).timezone)


def _get(session: Session, referral_id: str) -> Referral:
    referral = find_referral(session, referral_id)
    if referral is None:
        raise HTTPException(status_code=404, detail=f"no referral with id {referral_id!r}")
    return referral

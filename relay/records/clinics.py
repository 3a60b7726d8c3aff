"""The clinic row that every reply and job needs."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.models import Clinic


class ClinicNotConfigured(RuntimeError):
    pass


def get_clinic(session: Session) -> Clinic:
    clinic = session.scalars(select(Clinic).order_by(Clinic.id).limit(1)).first()
    if clinic is None:
        raise ClinicNotConfigured("no clinic in the database: run `relay seed-demo` or load your clinic")
    return clinic

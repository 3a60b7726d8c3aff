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


_HELD_CLINIC = "relay.clinic"


def session_clinic(session: Session) -> Clinic:
    """The clinic, looked up once per session: planning and sending need it for every row.

    Later calls are identity-map lookups (`session.get`), which read the row
    again only if the session has expired it.
    """
    held = session.info.get(_HELD_CLINIC)
    clinic = session.get(Clinic, held.id) if held is not None else None
    if clinic is None:
        clinic = get_clinic(session)
        # The object itself, not its id: the identity map forgets objects nothing refers to.
        session.info[_HELD_CLINIC] = clinic
    return clinic

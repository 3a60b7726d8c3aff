"""Aware datetimes only: the domain refuses a time without a zone at its edges."""

from datetime import datetime


def require_aware(value: datetime, what: str = "datetime") -> datetime:
    """Refuse naive datetimes at the domain's edges: whose '10:00' would it be?"""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"naive {what}: the domain only deals in aware times")
    return value

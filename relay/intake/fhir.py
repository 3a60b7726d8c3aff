"""FHIR R4 in: a Bundle or Bulk Data NDJSON, parsed with fhir.resources (R4B models), turned into import records.

Each resource is validated on its own, so one broken entry is a rejection
that names it while the others are imported. References are read as the EHR
writes them: relative (`Patient/123`), absolute (`https://ehr/fhir/Patient/123`),
to a `fullUrl` in the same Bundle (`urn:uuid:...`), or logical (an
identifier). This module reads and validates; relay.intake.fhir_mapping turns
the valid resources into records (docs/fhir.md has the mapping, element by
element).
"""

import json
from collections.abc import Iterable
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from relay.intake.fhir_mapping import KIND_OF_TYPE, Parsed, ResourceMapper, Resources
from relay.intake.gc_pause import collector_paused
from relay.intake.records import Batch

BUNDLE_TYPES = frozenset({"collection", "batch", "transaction", "searchset"})


class FhirInputError(ValueError):
    """The input as a whole is not something to import (not JSON, not a Bundle); nothing was read."""


def read_bundle(data: Any, *, mrn_system: str = "") -> Batch:
    """A Bundle (collection, batch, transaction or searchset), as a dict, JSON text or bytes."""
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise FhirInputError(f"the body is not JSON ({exc})") from None
        except RecursionError:
            raise FhirInputError("the body is nested too deeply to be a FHIR Bundle") from None
    if not isinstance(data, dict):
        raise FhirInputError("expected a FHIR Bundle (a JSON object)")
    if data.get("resourceType") != "Bundle":
        raise FhirInputError(f"expected a FHIR Bundle, got resourceType {data.get('resourceType')!r}")
    if data.get("type") not in BUNDLE_TYPES:
        raise FhirInputError(f"expected a Bundle of type {', '.join(sorted(BUNDLE_TYPES))}; got {data.get('type')!r}")
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        raise FhirInputError("the Bundle's entry is not a list")
    raw: list[tuple[str, dict, str | None]] = []
    batch = Batch()
    for number, entry in enumerate(entries, start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            batch.reject("records", f"entry {number}", "the entry has no resource")
            continue
        if isinstance(entry.get("search"), dict) and entry["search"].get("mode") == "outcome":
            continue  # an OperationOutcome about the search, not data
        raw.append((f"entry {number}", resource, entry.get("fullUrl")))
    return _read(raw, batch, mrn_system)


def read_ndjson(lines: Iterable[str | bytes], *, mrn_system: str = "") -> Batch:
    """The NDJSON files of a Bulk Data $export: one resource per line, any types, any order."""
    raw: list[tuple[str, dict, str | None]] = []
    batch = Batch()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            resource = json.loads(line)
        except ValueError:
            batch.reject("records", f"line {number}", "the line is not JSON")
            continue
        except RecursionError:
            batch.reject("records", f"line {number}", "the line is nested too deeply to be a FHIR resource")
            continue
        if not isinstance(resource, dict):
            batch.reject("records", f"line {number}", "the line is not a FHIR resource")
            continue
        raw.append((f"line {number}", resource, None))
    return _read(raw, batch, mrn_system)


def read_resources(resources: Iterable[dict], *, mrn_system: str = "") -> Batch:
    """Resources already read from JSON (a sync page's entries)."""
    raw: list[tuple[str, dict, str | None]] = [
        (f"resource {number}", resource, None) for number, resource in enumerate(resources, start=1)
    ]
    return _read(raw, Batch(), mrn_system)


# --- validation and the index of the batch ---------------------------------


def _read(raw: list[tuple[str, dict, str | None]], batch: Batch, mrn_system: str) -> Batch:
    with collector_paused():
        return _validate_and_map(raw, batch, mrn_system)


def _validate_and_map(raw: list[tuple[str, dict, str | None]], batch: Batch, mrn_system: str) -> Batch:
    resources = Resources()
    for label, resource, full_url in raw:
        resource_type = resource.get("resourceType")
        if resource_type not in KIND_OF_TYPE:
            batch.reject("records", _label(label, resource), f"{resource_type or 'a resource without resourceType'} "
                         "is not a resource Relay imports")  # fmt: skip
            continue
        try:
            model = get_fhir_model_class(resource_type).model_validate(resource)
        except ValidationError as exc:
            batch.reject(KIND_OF_TYPE[resource_type], _label(label, resource), _plain(exc))
            continue
        resource_id = getattr(model, "id", None) or (full_url.rsplit(":", 1)[-1] if full_url else None)
        if resource_id is None:
            batch.reject(KIND_OF_TYPE[resource_type], _label(label, resource), "the resource has no id")
            continue
        resources.add(Parsed(resource_type, resource_id, model, _label(label, resource)), full_url)
    ResourceMapper(resources, batch, mrn_system).run()
    return batch


def _label(label: str, resource: dict) -> str:
    if resource.get("resourceType") and resource.get("id"):
        return f"{resource['resourceType']}/{resource['id']}"
    return label


def _plain(exc: ValidationError) -> str:
    """The first problem pydantic found, as `field: message` (no input values: they may be PHI)."""
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)

"""The OpenAPI document lists the allowed values of every state and kind, from the models' own enums."""

import pytest

from relay.models import (
    AppointmentStatus,
    AuthorizationStatus,
    HandoffPriority,
    HandoffStatus,
    OutreachChannel,
    OutreachKind,
    OutreachState,
    ReferralPriority,
    ReferralStatus,
    ReferralType,
)


def _enum_of(schema: dict, components: dict) -> list[str]:
    """The enum a property allows: its own, or through a $ref or an anyOf with null."""
    if "enum" in schema:
        return schema["enum"]
    for option in schema.get("anyOf", [schema]):
        if "$ref" in option:
            option = components[option["$ref"].rsplit("/", 1)[1]]
        if "enum" in option:
            return option["enum"]
    raise AssertionError(f"no enum in {schema}")


@pytest.mark.parametrize(
    ("model", "field", "enum"),
    [
        ("StatusChangeIn", "status", ReferralStatus),
        ("AuthorizationIn", "status", AuthorizationStatus),
        ("ReferralOut", "status", ReferralStatus),
        ("ReferralOut", "type", ReferralType),
        ("ReferralOut", "priority", ReferralPriority),
        ("AppointmentOut", "status", AppointmentStatus),
        ("AuthorizationOut", "status", AuthorizationStatus),
        ("HandoffOut", "status", HandoffStatus),
        ("HandoffOut", "priority", HandoffPriority),
        ("OutreachOut", "state", OutreachState),
        ("OutreachOut", "kind", OutreachKind),
        ("OutreachOut", "channel", OutreachChannel),
    ],
)
def test_each_state_and_kind_lists_its_values(api_client, model, field, enum):
    components = api_client.get("/openapi.json").json()["components"]["schemas"]
    assert _enum_of(components[model]["properties"][field], components) == [member.value for member in enum]


def test_the_handoff_list_filter_lists_its_statuses(api_client):
    parameters = api_client.get("/openapi.json").json()["paths"]["/api/handoffs"]["get"]["parameters"]
    [status] = [parameter for parameter in parameters if parameter["name"] == "status"]
    assert _enum_of(status["schema"], {}) == ["open", "resolved"]

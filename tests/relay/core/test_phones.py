import pytest

from relay.core.phones import InvalidPhoneNumber, mask, pretty, to_e164


@pytest.mark.parametrize(
    "raw",
    ["(312) 555-0145", "312.555.0145", "+1 (312) 555-0145", "3125550145", "+1 312-555-0145", "1-312-555-0145"],
)
def test_the_ways_staff_type_a_number_all_normalise_to_one_e164(raw):
    assert to_e164(raw) == "+13125550145"


@pytest.mark.parametrize("raw", ["", "hello", "12", "+1 312 555 01450000"])
def test_non_numbers_are_refused_with_a_reason(raw):
    with pytest.raises(InvalidPhoneNumber):
        to_e164(raw)


def test_mask_keeps_only_the_last_two_digits():
    assert mask("+13125550145") == "**********45"
    assert "555" not in mask("+13125550145")
    assert mask(None) == "-"


def test_pretty_is_the_national_format():
    assert pretty("+13125550100") == "(312) 555-0100"

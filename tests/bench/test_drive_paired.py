"""bench.sms.drive_paired: the same message on both sides back to back, taking turns at going first."""

import pytest

from bench.sms import SCRIPT, drive_paired

pytestmark = pytest.mark.bench


class Recorder:
    """A side that answers at once and notes what it was sent; `fail_on` texts get no answer."""

    def __init__(self, name: str, calls: list, fail_on: tuple[str, ...] = ()) -> None:
        self.name, self.calls, self.fail_on = name, calls, fail_on

    def __call__(self, phone: str, text: str) -> bool:
        self.calls.append((self.name, phone, text))
        return text not in self.fail_on


def test_each_message_goes_to_both_sides_and_the_first_side_alternates():
    calls: list = []
    sides = {"bare": (Recorder("bare", calls), "+1000"), "ours": (Recorder("ours", calls), "+2000")}
    runs, pairs = drive_paired(sides, cycles=2)

    assert [text for _, _, text in calls] == [text for text in SCRIPT * 2 for _ in range(2)]
    firsts = [calls[i][0] for i in range(0, len(calls), 2)]
    assert firsts == ["bare", "ours"] * len(SCRIPT)  # 14 turns: who goes first alternates
    assert {(name, phone) for name, phone, _ in calls} == {("bare", "+1000"), ("ours", "+2000")}
    assert (runs["bare"].turns, runs["ours"].turns, pairs.turns) == (14, 14, 14)


def test_a_turn_that_fails_on_one_side_is_an_error_there_and_no_pair():
    calls: list = []
    sides = {"bare": (Recorder("bare", calls), "+1000"), "ours": (Recorder("ours", calls, fail_on=("no",)), "+2000")}
    runs, pairs = drive_paired(sides, cycles=1)

    assert (runs["ours"].errors, runs["ours"].turns, runs["bare"].errors, runs["bare"].turns) == (1, 6, 0, 7)
    assert pairs.turns == 6


def test_a_voice_side_begins_a_call_on_both_sides_before_each_cycle():
    calls: list = []

    class Caller(Recorder):
        script = ("hello", "bye")

        def begin_cycle(self, phone: str) -> None:
            self.calls.append((self.name, phone, "<new call>"))

    sides = {"bare": (Caller("bare", calls), "+1000"), "ours": (Caller("ours", calls), "+2000")}
    drive_paired(sides, cycles=2)
    texts = [(name, text) for name, _, text in calls]
    assert texts[:2] == [("bare", "<new call>"), ("ours", "<new call>")]
    assert texts[6:8] == [("bare", "<new call>"), ("ours", "<new call>")]
    assert len(texts) == 2 * (2 + 2 * 2)

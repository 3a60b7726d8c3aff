"""scripts/nlu_by_language.py: per-language intent scores from Rasa's cross-validation errors."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from relay.core.settings import PROJECT_ROOT

_spec = importlib.util.spec_from_file_location("nlu_by_language", PROJECT_ROOT / "scripts" / "nlu_by_language.py")
assert _spec and _spec.loader
nlu = importlib.util.module_from_spec(_spec)
sys.modules["nlu_by_language"] = nlu  # dataclasses look their module up while the class is made
_spec.loader.exec_module(nlu)

EXAMPLES = {
    "en": [
        ("yes", "affirm"),
        ("sure", "affirm"),
        ("yep", "affirm"),
        ("no", "deny"),
        ("nope", "deny"),
        ("where do i park", "ask_faq/parking"),
        ("what are your hours", "ask_faq/hours"),
        ("nvm", "stop_flow"),
    ],
    "es": [
        ("si", "affirm"),
        ("claro", "affirm"),
        ("no", "deny"),  # the same text as English: counts in both languages
        ("ahorita no", "deny"),
        ("donde me estaciono", "ask_faq/parking"),
        ("olvidalo", "stop_flow"),
        ("mejor no", "stop_flow"),
    ],
}


def error(text, intent, predicted, confidence=0.5):
    return {"text": text, "intent": intent, "intent_prediction": {"name": predicted, "confidence": confidence}}


ERRORS = [
    error("sure", "affirm", "deny"),  # en: affirm FN, deny FP
    error("no", "deny", "affirm"),  # en and es: deny FN, affirm FP
    error("what are your hours", "ask_faq", "affirm"),  # retrieval intents are errors under the base intent
    error("mejor no", "stop_flow", "deny"),  # es: stop_flow FN, deny FP
]


def test_counts_per_language_are_the_examples_minus_their_errors():
    scores = nlu.score(EXAMPLES, ERRORS)
    en, es = scores["en"].rows, scores["es"].rows

    assert en["affirm"] == nlu.Row("affirm", support=3, tp=2, fp=2, fn=1)
    assert en["deny"] == nlu.Row("deny", support=2, tp=1, fp=1, fn=1)
    assert en["ask_faq"] == nlu.Row("ask_faq", support=2, tp=1, fp=0, fn=1)
    assert en["stop_flow"] == nlu.Row("stop_flow", support=1, tp=1, fp=0, fn=0)
    assert es["affirm"] == nlu.Row("affirm", support=2, tp=2, fp=1, fn=0)
    assert es["deny"] == nlu.Row("deny", support=2, tp=1, fp=1, fn=1)
    assert es["ask_faq"] == nlu.Row("ask_faq", support=1, tp=1, fp=0, fn=0)
    assert es["stop_flow"] == nlu.Row("stop_flow", support=2, tp=1, fp=0, fn=1)
    assert (scores["en"].examples, scores["en"].errors) == (8, 3)
    assert (scores["es"].examples, scores["es"].errors) == (7, 2)


def test_precision_recall_f1_and_accuracy():
    en = nlu.score(EXAMPLES, ERRORS)["en"]
    affirm = en.rows["affirm"]
    assert affirm.precision == pytest.approx(2 / 4)
    assert affirm.recall == pytest.approx(2 / 3)
    assert affirm.f1 == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    assert en.accuracy == pytest.approx(5 / 8)
    assert [row.intent for row in en.below(0.9)] == ["affirm", "ask_faq", "deny"]
    macro_precision, macro_recall, _ = en.average(weighted=False)
    assert macro_recall == pytest.approx((2 / 3 + 1 / 2 + 1 / 2 + 1) / 4)
    assert macro_precision == pytest.approx((2 / 4 + 1 / 1 + 1 / 2 + 1 / 1) / 4)
    weighted_recall = en.average(weighted=True)[1]
    assert weighted_recall == pytest.approx(en.accuracy)  # support-weighted recall is accuracy


def test_an_intent_only_predicted_in_a_language_gets_a_row_with_no_examples():
    scores = nlu.score({"es": [("hola", "greet")]}, [error("hola", "greet", "goodbye")])
    assert scores["es"].rows["goodbye"] == nlu.Row("goodbye", support=0, tp=0, fp=1, fn=0)
    assert scores["es"].rows["goodbye"].f1 == 0.0
    assert scores["es"].rows["greet"].f1 == 0.0


def test_no_errors_is_a_perfect_score():
    scores = nlu.score(EXAMPLES, [])
    assert all(row.f1 == 1.0 for result in scores.values() for row in result.rows.values())
    assert scores["es"].below() == []


def test_an_error_for_an_example_in_no_file_is_refused():
    with pytest.raises(nlu.UnknownError, match="hello there"):
        nlu.score(EXAMPLES, [error("hello there", "greet", "affirm")])


def test_examples_are_read_as_rasa_reads_them():
    data = {
        "version": "3.1",
        "nlu": [
            {"intent": "ask_faq/parking", "examples": "- where do i park\n- where do i park\n-   is parking free  \n"},
            {"intent": "inform_time", "examples": '- [tuesday](day) after 3\n- the [15th]{"entity": "day"} at 9\n'},
            {"intent": "greet", "examples": [{"text": "hola"}, {"text": " hi "}]},
            {"regex": "year", "examples": "- \\b(19|20)\\d{2}\\b\n"},
        ],
    }
    assert nlu.examples_in(data) == [
        ("where do i park", "ask_faq/parking"),
        ("is parking free", "ask_faq/parking"),
        ("tuesday after 3", "inform_time"),
        ("the 15th at 9", "inform_time"),
        ("hola", "greet"),
        ("hi", "greet"),
    ]


def test_the_summary_has_a_table_per_language_and_names_what_is_below_090(tmp_path: Path):
    errors = tmp_path / "intent_errors.json"
    errors.write_text(json.dumps(ERRORS))
    files = {}
    for lang, pairs in EXAMPLES.items():
        items: dict[str, list[str]] = {}
        for text, intent in pairs:
            items.setdefault(intent, []).append(text)
        path = tmp_path / f"nlu_{lang}.yml"
        path.write_text(
            json.dumps({"nlu": [{"intent": i, "examples": "".join(f"- {t}\n" for t in ts)} for i, ts in items.items()]})
        )
        files[lang] = path
    out = tmp_path / "summary.md"
    assert (
        nlu.main(["--errors", str(errors), "--folds", "3", "--out", str(out)] + [f"{k}={v}" for k, v in files.items()])
        == 0
    )
    summary = out.read_text()
    assert "## English" in summary and "## Spanish" in summary
    assert "| affirm | 0.500 | 0.667 | 0.571 **<** | 3 | 1 |" in summary
    assert summary.rstrip().splitlines()[-1] == (
        "Below 0.90 F1: affirm (English 0.571), ask_faq (English 0.667), deny (English 0.500), "
        "affirm (Spanish 0.800), deny (Spanish 0.500), stop_flow (Spanish 0.667)"
    )


def test_the_report_counts_are_checked_against_rasas():
    report = {"affirm": {"support": 5}, "deny": {"support": 3}, "accuracy": 0.8, "macro avg": {"support": 99}}
    # "no" is in both files but one example for Rasa: 3 deny, not 4.
    assert nlu.support_mismatches(EXAMPLES, report) == []
    assert nlu.support_mismatches(EXAMPLES, {"deny": {"support": 4}}) == ["deny: 3 in the files, 4 in the report"]

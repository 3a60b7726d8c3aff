"""The training data is valid and covers every intent in both languages, and the model follows the test stories."""

import os
import re
import subprocess
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
import yaml

from relay.core.settings import PROJECT_ROOT
from relay.inbound.keywords import HELP_WORDS, OPT_IN_WORDS, OPT_OUT_WORDS, SPANISH_OPT_OUT_WORDS

RASA = str(PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa")
ENV = os.environ | {"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.mark.rasa
def test_rasa_data_validate_is_clean():
    result = subprocess.run(
        [RASA, "data", "validate", "--domain", "bot/intents", "--data", "data", "--config", "bot/config.yml"],
        cwd=PROJECT_ROOT, env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "No story structure conflicts found" in output
    for problem in ("not part of the domain", "is not defined", "contradict"):
        assert problem not in output


@pytest.mark.rasa
def test_the_model_follows_every_test_story(tmp_path: Path):
    result = subprocess.run(
        [RASA, "test", "core", "--stories", "tests/rasa/test_stories.yml", "--model", "models", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    failed = tmp_path / "failed_test_stories.yml"
    text = failed.read_text() if failed.exists() else ""
    stories = (
        (yaml.safe_load(text) or {}).get("stories")
        if text.strip() and "None of the test stories failed" not in text
        else None
    )
    assert not stories, text
    report = (
        yaml.safe_load((tmp_path / "story_report.json").read_text())
        if (tmp_path / "story_report.json").exists()
        else {}
    )
    assert report.get("conversation_accuracy", {}).get("accuracy", 1.0) == 1.0, report.get("conversation_accuracy")


# --- the NLU data itself (no Rasa needed) -----------------------------------

NLU_FILES = {"en": PROJECT_ROOT / "data" / "nlu.yml", "es": PROJECT_ROOT / "data" / "nlu_es.yml"}
MIN_EXAMPLES = 15
MIN_MULTI_INTENT_EXAMPLES = 10  # "confirm_appointment+ask_faq": rarer, and each part is trained on its own too
# Whole messages the carrier (or relay/inbound/keywords.py, before the bot) answers: never an intent example.
CARRIER_KEYWORDS = OPT_OUT_WORDS | OPT_IN_WORDS | HELP_WORDS | SPANISH_OPT_OUT_WORDS


def _examples(path: Path) -> dict[str, list[str]]:
    """Full intent (ask_faq/parking) -> its example texts, as written."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data.get("version") == "3.1", path
    found: dict[str, list[str]] = {}
    for item in data["nlu"]:
        if "intent" in item:
            lines = item["examples"].splitlines()
            found.setdefault(item["intent"], []).extend(line[1:].strip() for line in lines if line.startswith("-"))
    return found


NLU = {lang: _examples(path) for lang, path in NLU_FILES.items()}


def _domain_intents() -> list[str]:
    intents = []
    for path in sorted((PROJECT_ROOT / "bot" / "intents").glob("*.yml")):
        for entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("intents") or []:
            intents.append(entry if isinstance(entry, str) else next(iter(entry)))
    return sorted(set(intents) - {"nlu_fallback"})


def _bare_word(text: str) -> str:
    """A message as the keyword matcher compares it: upper case, no accents, no surrounding ¡¿ or punctuation."""
    text = re.sub(r"[\s.!?,;:]+$", "", re.sub(r"^[\s¡¿]+", "", text))
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).upper()


@pytest.mark.parametrize("language", NLU)
@pytest.mark.parametrize("intent", _domain_intents())
def test_every_domain_intent_has_enough_examples_in_each_language(intent: str, language: str):
    data = NLU[language]
    if intent == "ask_faq":  # a retrieval intent: each topic is trained on its own
        topics = {name: texts for name, texts in data.items() if name.startswith("ask_faq/")}
        assert topics, f"no ask_faq/ examples in {NLU_FILES[language].name}"
    else:
        topics = {intent: data.get(intent, [])}
    least = MIN_MULTI_INTENT_EXAMPLES if "+" in intent else MIN_EXAMPLES
    for name, texts in topics.items():
        assert len(set(texts)) >= least, f"{name}: {len(set(texts))} examples in {NLU_FILES[language].name}"


def test_both_languages_have_the_same_intents_and_every_one_is_in_the_domain():
    assert set(NLU["en"]) == set(NLU["es"])
    domain = set(_domain_intents())
    assert {name.split("/")[0] for name in NLU["en"]} <= domain


@pytest.mark.parametrize("language", NLU)
def test_no_example_is_a_carrier_keyword(language: str):
    keywords = [
        (name, text) for name, texts in NLU[language].items() for text in texts if _bare_word(text) in CARRIER_KEYWORDS
    ]
    assert keywords == []


def test_the_keyword_check_sees_keywords_as_patients_type_them():
    assert {
        _bare_word(text) for text in ("stop", "Stop.", "¡Alto!", "  cancelar ", "PARAR!!", "baja")
    } <= CARRIER_KEYWORDS
    assert _bare_word("cancelar mi cita") not in CARRIER_KEYWORDS
    assert {"ALTO", "PARAR", "BAJA", "CANCELAR", "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"} <= (
        CARRIER_KEYWORDS
    )
    assert {"START", "HELP", "INFO"} <= CARRIER_KEYWORDS


def test_no_text_is_an_example_of_two_intents():
    """Across both files (the model is trained on both); the same text for the same intent in both is fine."""
    intents_of: dict[str, set[str]] = {}
    for data in NLU.values():
        for name, texts in data.items():
            for text in texts:
                intents_of.setdefault(text.lower(), set()).add(name)
    assert {text: names for text, names in intents_of.items() if len(names) > 1} == {}


@pytest.mark.parametrize("language", NLU)
def test_no_duplicate_examples_in_a_file(language: str):
    """As Rasa compares them: "R" and "r" are two examples (the LexicalSyntacticFeaturizer sees the case)."""
    counts = Counter(text for texts in NLU[language].values() for text in texts)
    assert [text for text, n in counts.items() if n > 1] == []

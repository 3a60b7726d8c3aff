"""Intent precision, recall and F1 per language, from one NLU cross-validation of every language.

`rasa test nlu --cross-validation` scores all of data/ together and writes
intent_errors.json: the misclassified test examples, each with its text, its
intent and the predicted one (the FallbackClassifier's nlu_fallback is undone
first, so the prediction is the intent the classifier chose). Every example is
tested exactly once across the folds, and its language is the file it is in, so
per language and intent:

    support = that language's examples of the intent
    FN      = its errors whose intent is the intent
    FP      = its errors predicted as the intent (and labelled otherwise)
    TP      = support - FN

Retrieval intents count under their base intent (ask_faq/parking is ask_faq),
as Rasa labels them in intent_report.json and intent_errors.json. Multi-intents
("cancel_appointment+reschedule_appointment") are labels of their own. An exact
duplicate (same text, same intent) in one file is one example, as Rasa drops
duplicates; a text that is in several files counts in each of those languages.

    .venv/bin/python scripts/nlu_by_language.py --errors reports/nlu/intent_errors.json \
        --report reports/nlu/intent_report.json --folds 3 en=data/nlu.yml es=data/nlu_es.yml
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}
THRESHOLD = 0.90

# Rasa's entity annotation: [text](entity), [text](entity:value), [text]{"entity": ...}, [text][{...}, ...].
_ENTITY = re.compile(
    r"\[(?P<text>[^\]]+?)\](\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)|\{(?P<dict>[^}]+?)\}|\[(?P<dicts>.*?)\])"
)
_STRIP = "\n\r "  # what Rasa strips around an example
_HEADER = "| intent | precision | recall | F1 | examples | errors |"
_ALIGN = "| --- | ---: | ---: | ---: | ---: | ---: |"


def base_intent(intent: str) -> str:
    """ask_faq/parking -> ask_faq: the label Rasa's intent evaluation uses."""
    return intent.split("/", 1)[0]


def plain_text(example: str) -> str:
    """An example as Rasa tests it: entity annotations replaced by their text."""
    return _ENTITY.sub(lambda m: m.group("text"), example.strip(_STRIP))


def examples_in(nlu: Mapping) -> list[tuple[str, str]]:
    """(text, full intent) of every intent example in parsed NLU YAML, duplicates dropped, in order."""
    seen: dict[tuple[str, str], None] = {}
    for item in nlu.get("nlu") or []:
        intent = item.get("intent") if isinstance(item, Mapping) else None
        if not intent:
            continue
        block = item.get("examples") or ""
        if isinstance(block, str):
            lines = [line[1:] for line in block.splitlines() if line.startswith("-")]
        else:  # the list form: - text: ...
            lines = [entry.get("text", "") for entry in block if entry]
        for line in lines:
            seen.setdefault((plain_text(line), intent.strip()), None)
    return list(seen)


def read_examples(path: Path) -> list[tuple[str, str]]:
    return examples_in(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


@dataclass(frozen=True)
class Row:
    intent: str
    support: int
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.support if self.support else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class LanguageScore:
    language: str
    rows: dict[str, Row]  # by intent, sorted
    examples: int
    errors: int

    @property
    def accuracy(self) -> float:
        return (self.examples - self.errors) / self.examples if self.examples else 0.0

    def average(self, weighted: bool) -> tuple[float, float, float]:
        rows = [row for row in self.rows.values() if row.support]
        weights = [row.support if weighted else 1 for row in rows]
        total = sum(weights) or 1
        return (
            sum(w * row.precision for w, row in zip(weights, rows, strict=True)) / total,
            sum(w * row.recall for w, row in zip(weights, rows, strict=True)) / total,
            sum(w * row.f1 for w, row in zip(weights, rows, strict=True)) / total,
        )

    def below(self, threshold: float = THRESHOLD) -> list[Row]:
        return [row for row in self.rows.values() if row.f1 < threshold]


class UnknownError(ValueError):
    """An error names an example that no language's data holds: the data changed after the run."""


def score(examples: Mapping[str, Sequence[tuple[str, str]]], errors: Iterable[Mapping]) -> dict[str, LanguageScore]:
    """Per-language rows from each language's (text, intent) examples and Rasa's intent errors."""
    keys = {lang: Counter((text, base_intent(intent)) for text, intent in pairs) for lang, pairs in examples.items()}
    support = {lang: Counter(intent for _, intent in counted.elements()) for lang, counted in keys.items()}
    fn: dict[str, Counter[str]] = {lang: Counter() for lang in examples}
    fp: dict[str, Counter[str]] = {lang: Counter() for lang in examples}
    unknown = []
    for error in errors:
        text, intent = error["text"], base_intent(error.get("intent") or "")
        predicted = (error.get("intent_prediction") or {}).get("name") or "(none)"
        predicted = base_intent(predicted)
        languages = [lang for lang, counted in keys.items() if counted[(text, intent)]]
        if not languages:
            unknown.append(f"{text!r} ({intent})")
        for lang in languages:
            fn[lang][intent] += 1
            if predicted != intent:
                fp[lang][predicted] += 1
    if unknown:
        raise UnknownError("intent errors for examples not in the data: " + ", ".join(unknown[:10]))
    scores = {}
    for lang in examples:
        intents = sorted(set(support[lang]) | set(fp[lang]))
        rows = {}
        for name in intents:
            n, misses = support[lang][name], fn[lang][name]
            if misses > n:
                raise UnknownError(f"{lang}: {misses} errors for {n} examples of {name}")
            rows[name] = Row(name, n, n - misses, fp[lang][name], misses)
        scores[lang] = LanguageScore(lang, rows, sum(support[lang].values()), sum(fn[lang].values()))
    return scores


def markdown(scores: Mapping[str, LanguageScore], sources: Mapping[str, str], folds: int | str) -> str:
    names = [f"{sources[lang]} ({LANGUAGE_NAMES.get(lang, lang)})" for lang in scores]
    out = [
        f"NLU cross-validation ({folds} folds) of {' and '.join(names)} trained together: "
        "intent precision, recall and F1 per language",
        "",
    ]
    for lang, result in scores.items():
        out += [f"## {LANGUAGE_NAMES.get(lang, lang)} ({sources[lang]})", ""]
        out += [_HEADER, _ALIGN]
        for row in result.rows.values():
            f1 = f"{row.f1:.3f}" + (" **<**" if row.f1 < THRESHOLD else "")
            out.append(f"| {row.intent} | {row.precision:.3f} | {row.recall:.3f} | {f1} | {row.support} | {row.fn} |")
        for label, weighted in (("macro avg", False), ("weighted avg", True)):
            p, r, f = result.average(weighted)
            out.append(f"| **{label}** | {p:.3f} | {r:.3f} | {f:.3f} | {result.examples} | {result.errors} |")
        out += ["", f"accuracy: {result.accuracy:.3f} ({result.examples - result.errors}/{result.examples})", ""]
    below = [
        f"{row.intent} ({LANGUAGE_NAMES.get(lang, lang)} {row.f1:.3f})"
        for lang, result in scores.items()
        for row in result.below()
    ]
    out.append(f"Below {THRESHOLD:.2f} F1: " + (", ".join(below) if below else "none"))
    return "\n".join(out) + "\n"


def support_mismatches(examples: Mapping[str, Sequence[tuple[str, str]]], report: Mapping) -> list[str]:
    """Intents whose distinct examples over every file differ from intent_report.json's support."""
    distinct = Counter(base_intent(intent) for _, intent in _union(examples))
    problems = []
    for name, row in report.items():
        if name in ("micro avg", "macro avg", "weighted avg") or not isinstance(row, Mapping) or "support" not in row:
            continue
        if distinct[name] != row["support"]:
            problems.append(f"{name}: {distinct[name]} in the files, {row['support']} in the report")
    return problems


def _union(examples: Mapping[str, Sequence[tuple[str, str]]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(pair for pairs in examples.values() for pair in pairs))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", type=Path, required=True, help="intent_errors.json (missing: no errors)")
    parser.add_argument("--report", type=Path, help="intent_report.json, to check the example counts against")
    parser.add_argument("--folds", default="?")
    parser.add_argument("--out", type=Path, help="write the Markdown here as well as to stdout")
    parser.add_argument("files", nargs="+", metavar="LANG=FILE", help="e.g. en=data/nlu.yml es=data/nlu_es.yml")
    args = parser.parse_args(argv)

    sources = dict(spec.split("=", 1) for spec in args.files)
    examples = {lang: read_examples(Path(path)) for lang, path in sources.items()}
    errors = json.loads(args.errors.read_text(encoding="utf-8")) if args.errors.exists() else []
    text = markdown(score(examples, errors), sources, args.folds)
    if args.report and args.report.exists():
        for problem in support_mismatches(examples, json.loads(args.report.read_text(encoding="utf-8"))):
            print(f"nlu_by_language: example count differs from Rasa's: {problem}", file=sys.stderr)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

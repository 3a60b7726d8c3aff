"""Every form handles every interruption the same way: the generated rules and the forms' ignored intents agree."""

from pathlib import Path

import yaml

from bot.training import form_rules

ROOT = Path(__file__).resolve().parents[2]


def _domain_forms() -> dict[str, dict]:
    forms: dict[str, dict] = {}
    for path in sorted((ROOT / "bot" / "intents").glob("*.yml")):
        forms |= yaml.safe_load(path.read_text(encoding="utf-8")).get("forms") or {}
    return forms


def test_the_generated_rules_file_is_up_to_date():
    written = (ROOT / "data" / "form_rules.yml").read_text(encoding="utf-8")
    assert written == form_rules.render(), "run: .venv/bin/python -m bot.training.form_rules"


def test_every_form_in_the_domain_has_its_rules():
    assert set(_domain_forms()) == {form.name for form in form_rules.FORMS}


def test_each_form_ignores_every_intent_that_interrupts_it():
    """An interruption the form does not ignore is taken as its answer ("where do I park" as a time)."""
    domain = _domain_forms()
    for form in form_rules.FORMS:
        ignored = set(domain[form.name].get("ignored_intents") or [])
        missing = set(form_rules.ignored_intents(form)) - ignored
        assert not missing, f"{form.name} must list {sorted(missing)} in ignored_intents"


def test_every_interruption_leads_back_to_the_form_or_out_of_it():
    for rule in form_rules.rules():
        steps = rule["steps"]
        if "completed" in rule["rule"]:
            continue
        form = rule["condition"][0]["active_loop"]
        resumes = steps[-2:] == [{"action": form}, {"active_loop": form}]
        leaves = {"action": "action_deactivate_loop"} in steps and {"active_loop": None} in steps
        assert resumes != leaves, rule["rule"]
        if leaves:  # the form is left before anything else happens
            assert steps[1] == {"action": "action_deactivate_loop"}, rule["rule"]


def test_the_language_slot_is_followed_also_for_the_intents_a_form_ignores():
    """Rasa adds an active form's ignored intents to every slot mapping's not_intent, unless the mapping names
    its intents: the language slot's second mapping must name each, or "English please" inside a form is lost."""
    language = yaml.safe_load((ROOT / "bot" / "intents" / "language.yml").read_text(encoding="utf-8"))["slots"][
        "language"
    ]
    named = {intent for mapping in language["mappings"] for intent in mapping.get("intent") or []}
    every_ignored = {intent for form in form_rules.FORMS for intent in form_rules.ignored_intents(form)}
    assert every_ignored <= named, sorted(every_ignored - named)
    assert all(mapping == {"type": "from_entity", "entity": "language"} | ({"intent": mapping["intent"]} if "intent"
               in mapping else {}) for mapping in language["mappings"])  # fmt: skip

"""One decision of a patient's language, whatever code the EHR stored."""

import pytest

from relay.language.languages import Language, language_of


@pytest.mark.parametrize(
    ("stored", "language"),
    [
        ("es", Language.ES), ("es-MX", Language.ES), ("ES_us", Language.ES), (" es ", Language.ES),
        ("en", Language.EN), ("en-US", Language.EN),
        ("spa", Language.ES), ("SPA", Language.ES), ("eng", Language.EN),
        ("fr", Language.EN), ("fra", Language.EN), ("", Language.EN), (None, Language.EN),
    ],
)  # fmt: skip
def test_the_language_we_have_words_in(stored, language):
    assert language_of(stored) is language

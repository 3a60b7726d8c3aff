"""The real bot for conversation tests: the trained model on a Rasa server plus the action server.

Both run as the stack runs them (`relay serve rasa`, `relay serve actions`),
against the test database and Redis. Conversations go through the real
webhook in-process, so every part between Twilio and the patient is real.
"""

import uuid

import pytest

REASONS = (
    "Chest pain on exertion; evaluate for stable angina.",
    "Changing mole on left shoulder.",
    "Persistent right knee pain after fall; rule out meniscus tear.",
    "MRI lumbar spine for radiating low back pain.",
    "Second opinion on thyroid nodule management.",
    "Follow-up after hospitalization for heart failure exacerbation.",
    "Uncontrolled type 2 diabetes, A1c 9.8.",
    "Anxiety and insomnia; evaluation for therapy.",
    "Palpitations; Holter monitor review.",
    "Eczema flare not responding to OTC treatment.",
    "Newly diagnosed hypothyroidism.",
    "Syncope with abnormal ECG; same-day cardiology evaluation.",
)
# Words from the reasons that would give them away even when paraphrased.
REASON_WORDS = (
    "angina", "mole", "meniscus", "lumbar", "thyroid", "heart failure", "diabetes", "a1c",
    "anxiety", "insomnia", "palpitations", "holter", "eczema", "hypothyroidism", "syncope",
)  # fmt: skip


class Texter:
    """One phone texting the clinic through the signed webhook; keeps every reply."""

    def __init__(self, client, phone: str) -> None:
        self.client, self.phone, self.replies = client, phone, []

    def send(self, body: str) -> str:
        from tests.webhooks.twilio_helpers import post_sms, twiml_messages

        response = post_sms(self.client, from_phone=self.phone, body=body, sid="SM" + uuid.uuid4().hex)
        assert response.status_code == 200, response.text
        reply = "\n".join(twiml_messages(response))
        self.replies.append(reply)
        assert_private(reply)
        return reply


def assert_private(reply: str) -> None:
    """No referral reason, and an SMS that stays cheap: GSM-7, two segments unless listing slots."""
    from relay.language.gsm import is_gsm7, segments

    assert is_gsm7(reply), f"reply leaves the GSM-7 alphabet: {reply!r}"
    assert segments(reply) <= 2 or "1) " in reply, f"reply takes {segments(reply)} segments: {reply!r}"
    lowered = reply.lower()
    for reason in REASONS:
        assert reason.lower() not in lowered
    for word in REASON_WORDS:
        assert word not in lowered, f"reply gives away a referral reason ({word!r}): {reply!r}"


@pytest.fixture
def texter(api_client, rasa_stack, fresh_demo):
    def make(phone: str) -> Texter:
        return Texter(api_client, phone)

    return make

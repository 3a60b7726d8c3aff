"""One inbound text or call turn, from the webhook to the reply: keywords, safety, handoff silence, outreach replies, Rasa."""

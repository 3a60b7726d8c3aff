"""One inbound text or call turn, from the webhook to the reply.

Before the model: carrier keywords, safety, the verification gate, silence
while staff hold a handoff, replies to the clinic's own outreach; then Rasa.
"""

"""Messages out of the clinic: the SMS gateway (Twilio or the dev outbox), its rate limit, the staff handoffs."""

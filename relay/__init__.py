"""Relay: SMS and voice concierge for clinic referrals (domain package)."""

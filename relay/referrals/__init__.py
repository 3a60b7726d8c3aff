"""Referrals: what to tell a patient about one, which one a request is about, status changes as the EHR makes them."""

"""Background work on RQ: the outreach engine lives here (issue 4)."""

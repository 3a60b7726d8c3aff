"""How Relay speaks to a patient: which language, dates and times written and said, the SMS alphabet, the names of things."""

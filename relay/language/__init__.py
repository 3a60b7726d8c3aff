"""How Relay speaks to a patient: in which language, dates and times written and said, the SMS alphabet, names."""

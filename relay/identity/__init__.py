"""Who is texting: a date of birth read as patients write it, and the verification that guards every disclosure."""

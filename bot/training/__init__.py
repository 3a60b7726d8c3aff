"""Training data that is generated rather than written (see form_rules)."""

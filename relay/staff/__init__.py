"""Staff accounts for the console: passwords, the TOTP second factor, enrolment, lockout, sessions."""

"""Appointments: the specialists' open slots, a patient's time request, booking, and the clinic's opening hours."""

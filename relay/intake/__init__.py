"""Clinic data in: FHIR R4, CSV and the JSON API, through one import core."""

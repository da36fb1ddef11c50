"""VEX round trip: a project's triage from OpenVEX / CycloneDX VEX documents, and back out as OpenVEX."""

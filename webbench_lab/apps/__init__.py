"""The systems under test: their definitions, builds, services, start/stop and verification."""

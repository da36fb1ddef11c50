"""The FastAPI application: REST API under /api/v1, registry under /v2/, UI pages."""

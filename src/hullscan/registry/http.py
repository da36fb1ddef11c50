"""OCI Distribution v1.1 server routes under /v2/ (to be implemented)."""

from fastapi import APIRouter

router = APIRouter()

"""REST API routes of this part (mounted under /api/v1) and its background work in `serve`."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

router = APIRouter()


async def start(app: FastAPI) -> None:
    """Start this part's background work when `serve` starts."""


async def stop(app: FastAPI) -> None:
    """Stop background work; finish or release what is in flight."""

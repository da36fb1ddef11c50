"""Inbound CNCF Distribution notification webhook (to be implemented)."""

from fastapi import APIRouter

router = APIRouter()

"""`GET /health`: the app is up (liveness only). Endpoint probing is `arena.models.probing`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()


@router.get("/health", tags=["meta"])
def health() -> dict[str, str]:
    return {"status": "ok"}

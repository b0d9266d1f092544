"""/api/v1 routes: monitoring."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")

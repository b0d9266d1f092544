"""/api/v1 routes: tracking."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")

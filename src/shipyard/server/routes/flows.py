"""/api/v1 routes: flows."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")

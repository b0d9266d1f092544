"""/api/v1 routes: features."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")

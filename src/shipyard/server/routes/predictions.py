"""/api/v1 routes: predictions."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")

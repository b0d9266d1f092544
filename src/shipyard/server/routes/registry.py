"""/api/v1 routes: registry."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")

"""/api/v1 routes: blobs."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")

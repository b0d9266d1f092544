"""/api/v1 routes: store_rpc."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")

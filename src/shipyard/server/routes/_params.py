"""Path parameters shared by the resource routes: numbers the stores can hold."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

MAX_NUMBER = 2**31 - 1  # an INTEGER column in PostgreSQL; larger ones are not stored

VersionPath = Annotated[int, Path(ge=1, le=MAX_NUMBER, description="a version number")]
RunNumberPath = Annotated[int, Path(ge=1, le=MAX_NUMBER, description="the run's number")]
IdPath = Annotated[int, Path(ge=1, le=MAX_NUMBER)]

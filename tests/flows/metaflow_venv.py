"""A throwaway venv with the real ``metaflow`` (never a Shipyard dependency), to run the
tutorial flows under Metaflow and compare its client's answers with Shipyard's; built once
as ``tests/peer_venv.py`` says."""

from __future__ import annotations

from tests.peer_venv import PeerVenv

METAFLOW_VERSION = "2.19.39"
VENV = PeerVenv("metaflow", METAFLOW_VERSION, (f"metaflow=={METAFLOW_VERSION}",))
python_or_skip = VENV.python_or_skip

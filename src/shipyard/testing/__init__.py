"""Test helpers for Shipyard's own tests and for users' tests (a pytest plugin).

Fixtures: ``shipyard_home`` (a temporary embedded store, set as SHIPYARD_HOME),
``shipyard_client`` (a Client on it) and ``fake_clock`` (a FakeClock).
"""

from shipyard._clock import FakeClock

__all__ = ["FakeClock"]

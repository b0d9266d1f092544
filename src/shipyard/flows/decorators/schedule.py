"""@schedule: run the flow on a cron schedule once deployed (`shipyard scheduler deploy`)."""

from __future__ import annotations

from typing import Any, ClassVar

from shipyard.errors import InvalidFlow
from shipyard.flows.decorators.flow_base import FlowDecorator, flow_factory

_PRESETS = {"hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 0"}


class ScheduleDecorator(FlowDecorator):
    """Metaflow's arguments: ``hourly``, ``daily`` (the default), ``weekly`` or ``cron=``
    (five fields: minute hour day-of-month month day-of-week, read by croniter), and
    ``timezone=`` (an IANA name such as ``"Europe/Paris"``; default UTC)."""

    name = "schedule"
    defaults: ClassVar[dict[str, Any]] = {
        "hourly": False,
        "daily": True,
        "weekly": False,
        "cron": None,
        "timezone": None,
    }

    def check(self, flow_name: str) -> None:
        from croniter import croniter

        where = f"{flow_name}: @schedule"
        cron = self.attributes["cron"]
        chosen = [p for p in ("hourly", "weekly") if self.given.get(p)]
        if cron is not None and chosen:
            raise InvalidFlow(f"{where} takes cron= or {chosen[0]}=True, not both")
        if len(chosen) > 1:
            raise InvalidFlow(f"{where} takes one of hourly=True, daily=True, weekly=True")
        if cron is not None and (not isinstance(cron, str) or not croniter.is_valid(cron)):
            raise InvalidFlow(
                f"{where}(cron={cron!r}) is not a valid cron expression; write five fields, "
                "minute hour day-of-month month day-of-week, e.g. '0 3 * * *' (03:00 daily)"
            )
        zone = self.attributes["timezone"]
        if zone is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(str(zone))
            except (ZoneInfoNotFoundError, ValueError):
                raise InvalidFlow(
                    f"{where}(timezone={zone!r}) is not a known time zone; use an IANA "
                    "name such as 'UTC' or 'Europe/Paris'"
                ) from None

    @property
    def cron(self) -> str:
        """The cron expression this schedule stands for."""
        if self.attributes["cron"] is not None:
            return str(self.attributes["cron"])
        for preset in ("hourly", "weekly"):
            if self.attributes[preset]:
                return _PRESETS[preset]
        return _PRESETS["daily"]

    @property
    def timezone(self) -> str | None:
        zone = self.attributes["timezone"]
        return None if zone is None else str(zone)


schedule = flow_factory(ScheduleDecorator)

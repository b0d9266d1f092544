"""Is a model still looked after? A model is stale when nobody registered a version of it
and nothing was predicted with it for ``model_stale_after`` days, or when its owner is
marked gone. `shipyard models ls` shows it at a glance."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard._clock import to_millis
from shipyard.store.base import RegisteredModel
from shipyard.tracking import Client

DAY_MS = 86_400_000


@dataclass(frozen=True)
class ModelStatus:
    model: RegisteredModel
    last_version_ms: int
    last_prediction_ms: int | None
    stale_reason: str | None  # None: not stale

    @property
    def stale(self) -> bool:
        return self.stale_reason is not None


def model_statuses(client: Client, stale_after_days: float | None = None) -> list[ModelStatus]:
    store = client.store
    days = stale_after_days if stale_after_days is not None else client.settings.model_stale_after
    now = to_millis(client.clock.now())
    last_predictions = store.predictions.last_prediction_ms()
    gone = store.models.gone_owners()
    statuses = []
    for model in store.models.list_models():
        latest = store.models.get_model_version(model.name, model.latest_version)
        last_prediction = last_predictions.get(model.name)
        last_activity = max(latest.created_ms, last_prediction or 0)
        reason = None
        if model.owner in gone:
            reason = f"owner {model.owner} is gone"
        elif now - last_activity > days * DAY_MS:
            reason = f"no new version or prediction for {_span(now - last_activity)}"
        statuses.append(ModelStatus(model, latest.created_ms, last_prediction, reason))
    return statuses


def mark_owner_gone(client: Client, owner: str, gone: bool = True) -> None:
    from shipyard.tracking import current_user

    client.store.models.mark_owner_gone(
        owner, gone, current_user() or "unknown", to_millis(client.clock.now())
    )


def _span(ms: int) -> str:
    hours = ms / 3_600_000
    return f"{hours / 24:.0f} days" if hours >= 48 else f"{hours:.1f} hours"

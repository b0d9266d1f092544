"""Serving: a REST prediction server (native, MLflow and Open Inference v2 protocols) with
online feature lookup, traffic splits, shadows, alias hot-swap and a prediction log."""

from shipyard.serving.deployment import Deployment, ModelRef, Variant
from shipyard.serving.server import ServeOptions, serve

__all__ = [
    "Deployment",
    "ModelRef",
    "ServeOptions",
    "Variant",
    "log_labels",
    "serve",
]


def log_labels(prediction_ids: list[str], labels: list[object]) -> int:
    """Attach ground truth to logged predictions (all or nothing); returns how many."""
    from shipyard._clock import to_millis
    from shipyard.serving.predlog import attach_labels
    from shipyard.tracking import Client

    client = Client()  # the process's session: no engine of its own
    return attach_labels(
        client.store.predictions, prediction_ids, labels, to_millis(client.clock.now())
    )

"""Online features for a request that sends only entity keys (and request-time values):
the model version names the feature service it was trained on, and the server fetches
that service's features for each row.

The service is planned once, when the lookup is made (an unknown service fails then, not
on a request): each request reads all its views in one round trip per online store and
runs its on-demand views, re-planned in the background when the definitions change.
"""

from __future__ import annotations

from shipyard.errors import InvalidFeature, InvalidInput
from shipyard.features import FeatureStore, OnlineResponse
from shipyard.serving.schema import Columns
from shipyard.tracking import Client


class FeatureLookup:
    def __init__(self, service_ref: str, client: Client) -> None:
        project, _, service = service_ref.rpartition("/")
        self.store = FeatureStore(project or None, client=client)
        self.service = service
        self._lookup = self.store.online_lookup(service)

    def fetch(self, columns: Columns) -> OnlineResponse:
        try:
            return self._lookup(columns)
        except InvalidFeature as exc:
            raise InvalidInput(
                f"could not look up the features of service {self.service!r}: {exc.message}"
            ) from exc

    def explain(self, error: InvalidInput, response: OnlineResponse) -> InvalidInput:
        """A fetched value the model cannot take: say why the online store had none."""
        statuses = response.statuses.get(error.field or "")
        if statuses is None:
            return error
        for row, status in enumerate(statuses):
            if status != "present":
                return InvalidInput(
                    f"feature {error.field!r} of service {self.service!r} is {status} in the "
                    f"online store for row {row}; materialize its view, or send "
                    f"{error.field!r} with the request",
                    error.field,
                )
        return error

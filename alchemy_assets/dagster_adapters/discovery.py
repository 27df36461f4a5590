"""The discovery sensor: a dataset folder that appears under the data root, or leaves it,
while Dagster runs gets the code location reloaded, so its assets and sensor go live.

Datasets are discovered when the code location loads; only a reload (a new code server
process) can add or drop their definitions. The sensor compares the datasets under the root
with those the code location was built with and, when they differ, asks the webserver to
reload the code location through ``dagster-graphql``'s public client (the mutation behind
Deployment → Reload). The daemon's workspace polls the code server's id every second and
picks the new server up on its own (``dagster/_grpc/server_watcher.py``).

The reload is the one call here that acts outside the sensor's result. It changes no run,
partition or event in the instance: it asks Dagster to re-read definitions, as a person would
by clicking Reload; Dagster's sensor result cannot express it. It is asked once per change
(the cursor records it), never when nothing changed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import requests
from dagster_graphql import (
    DagsterGraphQLClient,
    DagsterGraphQLClientError,
    ReloadRepositoryLocationStatus,
)

from alchemy_assets.dagster_adapters.dagster_internals import code_location_name
from alchemy_assets.data_root import DataRoot, discover
from alchemy_assets.dataset_changes import ReloadRequest, compare, reload_due
from alchemy_assets.object_store import StoreError

DISCOVERY_SENSOR = "alchemy_assets__discovery_sensor"
WEBSERVER_VARIABLE = "ALCHEMY_WEBSERVER_URL"
# Under Dagster's 60 s sensor evaluation timeout; a reload that takes longer still finishes.
RELOAD_TIMEOUT_SECONDS = 50


class WebserverError(Exception):
    """The webserver could not reload the code location; the message says why."""


class DiscoveryError(Exception):
    """Datasets changed and the code location could not be reloaded; the message says what to do."""


class DagsterWebserver(dg.ConfigurableResource):  # type: ignore[type-arg]  # generic only in stubs
    """The Dagster webserver (its URL, e.g. ``http://127.0.0.1:3000``) that reloads code
    locations; an empty URL means none is known."""

    url: str

    def reload_code_location(self, name: str) -> None:
        """Reload code location ``name``: a new code server loads the definitions anew."""
        if not self.url:
            raise WebserverError("no webserver URL is set")
        parts = urlsplit(self.url if "://" in self.url else f"http://{self.url}")
        if not parts.hostname:
            raise WebserverError(f"{self.url!r} is not a URL")
        try:
            info = DagsterGraphQLClient(
                parts.hostname,
                port_number=parts.port,
                use_https=parts.scheme == "https",
                path_prefix=parts.path.rstrip("/"),
                timeout=RELOAD_TIMEOUT_SECONDS,
            ).reload_repository_location(name)
        except DagsterGraphQLClientError as err:
            raise WebserverError(f"the webserver at {self.url} {_failure(err)}") from None
        if info.status != ReloadRepositoryLocationStatus.SUCCESS:
            raise WebserverError(
                f"the webserver at {self.url} did not reload code location {name!r}: "
                f"{info.failure_type}: {info.message}"
            )


def _failure(err: DagsterGraphQLClientError) -> str:
    """What went wrong, from the client's error (which wraps gql's, which wraps the
    ``requests`` error)."""
    cause: BaseException | None = err
    while cause is not None:
        # A connect timeout is both: the webserver cannot be reached.
        if isinstance(cause, requests.ConnectionError):
            return "cannot be reached (connection refused or no such host)"
        if isinstance(cause, requests.Timeout):
            return f"did not answer within {RELOAD_TIMEOUT_SECONDS} s (the reload may still finish)"
        cause = cause.__cause__
    return f"failed: {str(err).splitlines()[0]}"


def build_discovery_sensor(
    root: DataRoot, built: Iterable[str], interval_seconds: int
) -> dg.SensorDefinition:
    """The sensor that gets the code location reloaded when the datasets under ``root``
    differ from ``built``, those it was built with (``VENDOR/DATASET/VERSION``)."""
    built_ids = tuple(sorted(built))

    @dg.sensor(
        name=DISCOVERY_SENSOR,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Compares the datasets under {root} with the {len(built_ids)} this code location "
            "was built with; when they differ, asks the webserver to reload the code location."
        ),
    )
    def discovery_sensor(
        context: dg.SensorEvaluationContext, dagster_webserver: DagsterWebserver
    ) -> dg.SensorResult:
        if isinstance(root, Path) and not root.is_dir():
            raise DiscoveryError(
                f"the data root {root} is not a folder now; not reloading the code location "
                "(it would fail to load)"
            )
        try:
            now = [str(layout.dataset_id) for layout in discover(root)]
        except StoreError as err:
            raise DiscoveryError(
                f"the data root cannot be listed now ({err}); not reloading the code location"
            ) from None
        changes = compare(built_ids, now)
        if not changes:
            return dg.SensorResult(skip_reason=f"{len(now)} dataset(s), as loaded")
        if not now:
            raise DiscoveryError(
                f"no dataset under {root} now ({changes.describe()}); not reloading the "
                "code location (an unmounted data root looks the same): if they were removed, "
                "reload it (Deployment → Reload)"
            )
        last = ReloadRequest.parse(context.cursor)
        if not reload_due(now, last, time.time()):
            assert last is not None
            asked = datetime.fromtimestamp(last.at, UTC).isoformat(timespec="seconds")
            return dg.SensorResult(
                skip_reason=f"{changes.describe()}; a reload was asked at {asked}: waiting "
                "for the code location to load"
            )
        location = code_location_name(context)
        try:
            if location is None:
                raise WebserverError("the code location's name is unknown")
            dagster_webserver.reload_code_location(location)
        except WebserverError as err:
            raise DiscoveryError(
                f"{changes.describe()}; reload the code location (Deployment → Reload) or set "
                f"{WEBSERVER_VARIABLE} to the webserver's URL: {err}"
            ) from None
        context.log.info(f"{changes.describe()}: code location {location} reloaded")
        return dg.SensorResult(
            skip_reason=f"{changes.describe()}: code location {location} reloaded",
            cursor=ReloadRequest(tuple(sorted(set(now))), time.time()).serialize(),
        )

    return discovery_sensor

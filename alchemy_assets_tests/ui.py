"""Drivers for the UI tests: ``dagster dev`` in a subprocess, its GraphQL API, and Debian's
Chromium through Playwright (no browser is downloaded: ``/usr/bin/chromium`` is used)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Page, sync_playwright

from alchemy_assets_tests.processes import stop_signals_at_default

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("ALCHEMY_CHROMIUM", "/usr/bin/chromium")
# As root in a sandbox with no internet: no setuid sandbox, no GPU, no calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
# The command that serves the code location (the options -h and -p are added).
DAGSTER_DEV = ("dagster", "dev", "-w", "workspace.yaml")
VIEWPORT = {"width": 1400, "height": 900}

Box = tuple[float, float, float, float]  # x, y, width, height of a node in the graph's SVG
T = TypeVar("T")
Edge = tuple[float, float, float, float]  # start x, y and end x, y of an arrow


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, log_tail: Callable[[], str]
) -> None:
    """Poll ``condition`` every half second; on timeout raise naming ``what``, with the log."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"waited {timeout:.0f} s for {what}; dagster dev said:\n{log_tail()}"
            )
        time.sleep(0.5)


class Graphql:
    """Dagster's GraphQL API at ``{url}/graphql``."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, text: str, **variables: Any) -> dict[str, Any]:
        body = json.dumps({"query": text, "variables": variables}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as err:
            answer = json.load(err)
        assert not answer.get("errors"), f"GraphQL errors: {answer['errors']}"
        data: dict[str, Any] = answer["data"]
        return data

    def wait_until_loaded(
        self,
        timeout: float,
        log_tail: Callable[[], str],
        exit_code: Callable[[], int | None] = lambda: None,
    ) -> None:
        """Until the webserver answers and every code location has loaded; fails at once if
        the server process exits (``exit_code`` returns its status)."""

        def loaded() -> bool:
            code = exit_code()
            if code is not None:
                raise RuntimeError(f"dagster dev exited with {code}; log:\n{log_tail()}")
            try:
                data = self.query(
                    "{ workspaceOrError { ... on Workspace { locationEntries "
                    "{ name loadStatus locationOrLoadError { __typename } } } } }"
                )
            except (OSError, urllib.error.URLError):
                return False
            entries = data["workspaceOrError"]["locationEntries"]
            for entry in entries:
                if entry["locationOrLoadError"]["__typename"] == "PythonError":
                    raise RuntimeError(f"code location {entry['name']} failed to load")
            return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)

        wait_for(loaded, timeout, "the webserver and its code location", log_tail)

    def location_error(self, timeout: float, log_tail: Callable[[], str]) -> str:
        """The message of the code location's load error, once the webserver reports one."""
        errors: list[str] = []

        def failed() -> bool:
            try:
                data = self.query(
                    "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus "
                    "locationOrLoadError { __typename ... on PythonError { message "
                    "causes { message } } } } } } }"
                )
            except (OSError, urllib.error.URLError):
                return False
            for entry in data["workspaceOrError"]["locationEntries"]:
                error = entry["locationOrLoadError"]
                if entry["loadStatus"] == "LOADED" and error["__typename"] == "PythonError":
                    errors.append(
                        "\n".join([error["message"], *(c["message"] for c in error["causes"])])
                    )
                elif entry["loadStatus"] == "LOADED":
                    raise RuntimeError("the code location loaded without an error")
            return bool(errors)

        wait_for(failed, timeout, "the code location's load error", log_tail)
        return errors[0]

    def run_status(self, run_id: str) -> str:
        data = self.query(
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", id=run_id
        )
        status: str = data["runOrError"]["status"]
        return status

    def run_pools(self, run_id: str) -> list[str]:
        """The concurrency pools whose slots the run takes."""
        data = self.query(
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { allPools } } }", id=run_id
        )
        pools: list[str] = data["runOrError"]["allPools"] or []
        return pools

    def finished_run_status(
        self, run_id: str, log_tail: Callable[[], str], timeout: float = 120.0
    ) -> str:
        """The run's status once it has finished (SUCCESS, FAILURE or CANCELED)."""
        wait_for(
            lambda: self.run_status(run_id) in FINISHED, timeout, f"run {run_id} to end", log_tail
        )
        return self.run_status(run_id)


REPOSITORY = "__repository__"

_TICKS = """
query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState {
        ticks(limit: 50) { status timestamp skipReason error { message causes { message } } }
      }
    }
  }
}
"""


def location_name(graphql: Graphql) -> str:
    """The name of the (one) code location."""
    data = graphql.query("{ workspaceOrError { ... on Workspace { locationEntries { name } } } }")
    (entry,) = data["workspaceOrError"]["locationEntries"]
    name: str = entry["name"]
    return name


def sensor_ticks(graphql: Graphql, sensor: str) -> list[dict[str, Any]]:
    """The sensor's last 50 ticks, newest first: status, timestamp (when the tick began),
    skip reason and error ([] while the code location has no such sensor)."""
    selector = {"repositoryLocationName": location_name(graphql), "repositoryName": REPOSITORY}
    data = graphql.query(_TICKS, selector={**selector, "sensorName": sensor})["sensorOrError"]
    if data["__typename"] != "Sensor":
        return []
    ticks: list[dict[str, Any]] = data["sensorState"]["ticks"]
    return ticks


_MATERIALIZATIONS = """
query($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset {
      assetMaterializations(limit: 1000) {
        runId partition timestamp
        metadataEntries {
          label
          ... on FloatMetadataEntry { floatValue }
          ... on TimestampMetadataEntry { timestamp }
        }
      }
    }
  }
}
"""


def sample_materializations(graphql: Graphql, path: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per partition, its materializations (newest first): run id, timestamp and ``mtime``
    (a timestamp entry, or a float one in materializations older than those)."""
    data = graphql.query(_MATERIALIZATIONS, path=path)["assetOrError"]
    out: dict[str, list[dict[str, Any]]] = {}
    for event in data.get("assetMaterializations", []):
        mtime = next(
            (
                e.get("timestamp", e.get("floatValue"))
                for e in event["metadataEntries"]
                if e["label"] == "mtime"
            ),
            None,
        )
        entry = {"runId": event["runId"], "timestamp": event["timestamp"], "mtime": mtime}
        out.setdefault(event["partition"], []).append(entry)
    return out


_OBSERVATION = """
query($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset {
      assetObservations(limit: 1) {
        metadataEntries {
          label
          ... on IntMetadataEntry { intValue }
          ... on MarkdownMetadataEntry { mdStr }
        }
      }
    }
  }
}
"""


def latest_observation(graphql: Graphql, path: list[str]) -> dict[str, Any]:
    """The latest observation's integer and Markdown metadata, by label ({} if none yet)."""
    data = graphql.query(_OBSERVATION, path=path)["assetOrError"]
    observations = data.get("assetObservations") or [{"metadataEntries": []}]
    return {
        e["label"]: e.get("intValue", e.get("mdStr"))
        for e in observations[0]["metadataEntries"]
        if "intValue" in e or "mdStr" in e
    }


_CHECKS = """
query($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 100) {
    runId status
    evaluation {
      severity partition success description
      metadataEntries { label ... on JsonMetadataEntry { jsonString } }
    }
  }
}
"""


def check_evaluations(graphql: Graphql, path: list[str], check: str) -> list[dict[str, Any]]:
    """A check's evaluations, newest first: partition, success, severity, description and
    its JSON metadata (decoded)."""
    executions = graphql.query(_CHECKS, key={"path": path}, check=check)["assetCheckExecutions"]
    out = []
    for execution in executions:
        evaluation = execution["evaluation"]
        if evaluation is None:
            continue
        json_metadata = {
            e["label"]: json.loads(e["jsonString"])
            for e in evaluation["metadataEntries"]
            if "jsonString" in e
        }
        out.append({**evaluation, "runId": execution["runId"], "json": json_metadata})
    return out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class DagsterDev:
    """A running ``dagster dev -w workspace.yaml`` (webserver and daemon) and its log."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def graphql(self) -> Graphql:
        return Graphql(self.url)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    @classmethod
    @contextmanager
    def start(
        cls,
        fp_prefix: Path | str,
        dagster_home: Path,
        timeout: float = 180.0,
        extra_env: dict[str, str] | None = None,
        command: Sequence[str] = DAGSTER_DEV,
        cwd: Path = REPO,
        wait_loaded: bool = True,
    ) -> Iterator[DagsterDev]:
        """Start ``command`` (from the virtual environment's bin) on a free loopback port
        (with ``dagster_home/dagster.yaml`` if there is one, else SQLite) and wait until its
        code location has loaded (``wait_loaded``); stop its whole process group on exit."""
        if not (dagster_home / "dagster.yaml").exists():
            (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        # Dagster shows a newsletter dialog on an instance's first visit unless this exists.
        (dagster_home / ".nux").mkdir(exist_ok=True)
        (dagster_home / ".nux" / "nux.yaml").write_text("seen: 1\n")
        port = _free_port()
        log = dagster_home / "dagster_dev.log"
        env = {
            **os.environ,
            "FP_PREFIX": str(fp_prefix),
            "DAGSTER_HOME": str(dagster_home),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            # The discovery sensor reloads the code location through this webserver.
            "ALCHEMY_WEBSERVER_URL": f"http://127.0.0.1:{port}",
            **(extra_env or {}),
        }
        program = Path(sys.executable).with_name(command[0])
        argv = [str(program), *command[1:], "-h", "127.0.0.1", "-p", str(port)]
        with log.open("wb") as out, stop_signals_at_default():
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        dev = cls(url=f"http://127.0.0.1:{port}", log=log, process=process)
        try:
            if wait_loaded:
                dev.graphql.wait_until_loaded(timeout, dev.log_tail, process.poll)
            yield dev
        finally:
            dev.stop()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


_NODES = """(names) => {
  const out = {};
  for (const f of document.querySelectorAll('foreignObject')) {
    const title = f.textContent.trim().split(/\\s|Latest/)[0];
    if (names.includes(title)) {
      out[title] = [+f.getAttribute('x'), +f.getAttribute('y'),
                    +f.getAttribute('width'), +f.getAttribute('height')];
    }
  }
  return out;
}"""

_EDGES = """() => Array.from(document.querySelectorAll('svg path[marker-end]'))
  .map(p => p.getAttribute('d'))"""

_METADATA_ROWS = """() => Array.from(document.querySelectorAll('table tr'))
  .map(row => Array.from(row.querySelectorAll(':scope > td')).map(td => td.innerText.trim()))
  .filter(cells => cells.length >= 2)"""


def _edge(path: str) -> Edge | None:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path)]
    if len(numbers) < 4:
        return None
    return numbers[0], numbers[1], numbers[-2], numbers[-1]


def arrow_between(edges: list[Edge], source: Box, target: Box, slack: float = 15.0) -> bool:
    """Is there an arrow leaving ``source``'s right side and ending at ``target``'s left side?"""
    sx, sy, sw, sh = source
    tx, ty, _, th = target
    return any(
        abs(x0 - (sx + sw)) <= slack
        and sy <= y0 <= sy + sh
        and abs(x1 - tx) <= slack
        and ty <= y1 <= ty + th
        for x0, y0, x1, y1 in edges
    )


def _settled(
    page: Page, read: Callable[[], T], done: Callable[[T], bool], timeout: float = 30.0
) -> T:
    """What ``read`` finds on ``page`` once ``done`` holds for it, polled every 250 ms; after
    ``timeout`` s what it finds then (the caller's assertions say what is missing)."""
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if done(found) or time.monotonic() > deadline:
            return found
        page.wait_for_timeout(250)


class Browser:
    """Headless Chromium pages on the Dagster UI."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    @classmethod
    @contextmanager
    def launch(cls) -> Iterator[Browser]:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield cls(browser)
            finally:
                browser.close()

    def open(self, url: str) -> Page:
        """A new page at ``url``, loaded."""
        page: Page = self._browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(30_000)
        page.goto(url, wait_until="networkidle")
        return page

    def graph_nodes(self, page: Page, names: list[str]) -> dict[str, Box]:
        """The boxes of the named asset nodes in a lineage graph."""
        for name in names:
            page.locator("foreignObject", has_text=name).first.wait_for()
        found: dict[str, list[float]] = page.evaluate(_NODES, names)
        assert set(found) == set(names), f"graph nodes {sorted(found)}, expected {names}"
        return {name: (box[0], box[1], box[2], box[3]) for name, box in found.items()}

    def graph_edges(self, page: Page, at_least: int = 1) -> list[Edge]:
        """The arrows of a lineage graph, as start and end points, once ``at_least`` of them
        are drawn (or after 30 s)."""

        def read() -> list[Edge]:
            paths: list[str] = page.evaluate(_EDGES)
            return [edge for edge in map(_edge, paths) if edge is not None]

        return _settled(page, read, lambda edges: len(edges) >= at_least)

    def partition_list(self, page: Page) -> list[str]:
        """The partition keys listed on an asset's Partitions tab (the rows in view)."""
        rows = page.locator('[class*="VirtualizedTable_row"] [title]')
        rows.first.wait_for()
        titles: list[str] = rows.evaluate_all("(es) => es.map(e => e.getAttribute('title'))")
        return list(dict.fromkeys(titles))

    def metadata_table(
        self, page: Page, first: str, value_column: int = 1, require: Sequence[str] = ()
    ) -> dict[str, str]:
        """A metadata table once its row ``first`` shows and each row in ``require`` has a
        value (Markdown values render after the rest; up to 30 s): label → the text shown in
        ``value_column`` (1 on a partition page; 2 on an asset's overview, after the time)."""
        page.get_by_role("cell", name=first, exact=True).first.wait_for()

        def read() -> dict[str, str]:
            rows: list[list[str]] = page.evaluate(_METADATA_ROWS)
            table: dict[str, str] = {}
            for cells in rows:
                if len(cells) > value_column:
                    table.setdefault(cells[0], cells[value_column])
            return table

        return _settled(page, read, lambda t: all(t.get(label, "").strip() for label in require))

"""A stateful model test of manifest → sensor → sample runs, in the manner of Vector's tests.

Random sequences of append, partial append, writer crash, corrupt line, truncate, rotate,
failed tick and tick run against real files, the real sensor and real in-process runs on a
real Dagster instance. The model is the seed's simple approach: at every tick, take the last
complete valid line of each file in the manifest as it is now, and sample it if its mtime
differs from the last one sampled. The invariant: the samples recorded in Dagster are
exactly the model's, in order: every complete valid line staged once per distinct mtime,
nothing else.
"""

import os
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)

from alchemy_assets.dagster_adapters.datasets import build_defs
from alchemy_assets.dagster_adapters.metadata import bronze_event, sample_event
from alchemy_assets.dagster_adapters.resources import AlchemyRoot
from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.layout import DatasetId, DatasetLayout
from alchemy_assets.manifest_line import LineError, encode_line, parse_line
from alchemy_assets.manifest_writer import append_line
from alchemy_assets.options import StagingOptions
from alchemy_assets.stage_file import stage_file
from alchemy_assets.staging import DueFile
from alchemy_assets_tests.conftest import (
    FIGURES,
    apply_partition_adds,
    daemon_tick,
    requested_files,
    sampled_mtimes,
    tick,
)
from benchmarks.seed import store_as_run

KEYS = st.sampled_from(["a.csv", "b.csv"])
MTIMES = st.sampled_from([1.0, 2.0])


def _per_key(samples: list[tuple[str, float]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for key, mtime in samples:
        out.setdefault(key, []).append(mtime)
    return out


class StagingMachine(RuleBasedStateMachine):
    """The machine. With ``real_runs`` off (the default CI slice) a tick's runs are carried
    out by calling what a run calls (``stage_file``, then the run's own events, reported to
    the instance), on an in-memory instance, so that many more sequences fit in the time."""

    real_runs = False

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="alchemy-model-"))
        self.layout = DatasetLayout.under(self.tmp / "fp", DatasetId("sp", "model", "1"))
        self.layout.ensure()
        (self.tmp / "home").mkdir()
        self.instance = (
            dg.DagsterInstance.local_temp(str(self.tmp / "home"))
            if self.real_runs
            else dg.DagsterInstance.ephemeral()
        )
        self.spec = DatasetSpec(self.layout.dataset_id, StagingOptions(sample_rows=2))
        self.defs = build_defs([self.spec], AlchemyRoot(fp_prefix=str(self.tmp / "fp")))
        self.cursor: str | None = None
        self.deliveries = 0
        self.pending: bytes | None = None  # the rest of a line a writer is still writing
        self.expected: list[tuple[str, float]] = []
        self.last_sampled: dict[str, float] = {}
        FIGURES["state machine examples run"] += 1

    def teardown(self) -> None:
        self.instance.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _line(self, name: str, mtime: float) -> bytes:
        """A new delivery of raw/env0/NAME: a fresh bronze file, as ingest would make it."""
        self.deliveries += 1
        rel = f"bronze/2026/01/01/{self.deliveries:06d}--{name}"
        path = self.layout.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"v\n{self.deliveries}\n")
        os.utime(path, (mtime, mtime))
        return encode_line(f"raw/env0/{name}", rel, mtime)

    @precondition(lambda self: self.pending is None)
    @rule(name=KEYS, mtime=MTIMES)
    def append(self, name: str, mtime: float) -> None:
        append_line(self.layout.manifest, self._line(name, mtime))

    @precondition(lambda self: self.pending is None)
    @rule(name=KEYS, mtime=MTIMES, cut=st.integers(1, 40))
    def partial_append(self, name: str, mtime: float, cut: int) -> None:
        line = self._line(name, mtime)
        with self.layout.manifest.open("ab") as f:
            f.write(line[:cut])
        self.pending = line[cut:]

    @precondition(lambda self: self.pending is not None)
    @rule()
    def finish_partial(self) -> None:
        with self.layout.manifest.open("ab") as f:
            f.write(self.pending or b"")
        self.pending = None

    @precondition(lambda self: self.pending is not None)
    @rule()
    def writer_crashes(self) -> None:
        self.pending = None  # the fragment stays; the next append terminates it

    @precondition(lambda self: self.pending is None)
    @rule(junk=st.sampled_from([b"{bad", b'{"raw": 1}', b"[]", b'{"mtime": NaN}', b""]))
    def corrupt_line(self, junk: bytes) -> None:
        with self.layout.manifest.open("ab") as f:
            f.write(junk + b"\n")

    @rule()
    def truncate(self) -> None:
        with self.layout.manifest.open("ab") as f:
            f.truncate(0)
        self.pending = None

    @rule()
    def rotate(self) -> None:
        if self.layout.manifest.exists():
            self.layout.manifest.rename(self.layout.manifest.with_name("processed.jsonl.1"))
        self.layout.manifest.touch()
        self.pending = None

    @rule()
    def failed_tick(self) -> None:
        """A tick that raised or timed out: evaluated, but nothing applied, cursor kept."""
        tick(self.defs, self.spec, self.instance, self.cursor)

    @rule()
    def tick_and_run(self) -> None:
        self._model_tick()
        if self.real_runs:
            self.cursor = daemon_tick(self.defs, self.spec, self.instance, self.cursor)
        else:
            self.cursor = self._tick_calling_what_runs_call()
        FIGURES["state machine ticks"] += 1
        # Per file, in order; across files a tick's runs go in partition order.
        assert _per_key(sampled_mtimes(self.instance, self.spec)) == _per_key(self.expected)

    def _tick_calling_what_runs_call(self) -> str | None:
        result = tick(self.defs, self.spec, self.instance, self.cursor)
        if isinstance(result, dg.SkipReason):
            return self.cursor
        apply_partition_adds(result, self.instance)
        for request in result.run_requests or []:
            for item in requested_files(request):
                staged = stage_file(self.layout, DueFile(**item), self.spec.options.sample_rows)
                store_as_run(self.instance, bronze_event(self.spec, staged))
                store_as_run(self.instance, sample_event(self.spec, staged))
        return result.cursor

    def _model_tick(self) -> None:
        data = self.layout.manifest.read_bytes() if self.layout.manifest.exists() else b""
        last: dict[str, float] = {}
        for raw_line in data.split(b"\n")[:-1]:  # complete lines only
            try:
                entry = parse_line(raw_line, self.layout.root)
            except LineError:
                continue
            last[entry.env_path] = entry.mtime
        for key, mtime in last.items():
            if self.last_sampled.get(key) != mtime:
                self.expected.append((key, mtime))
                self.last_sampled[key] = mtime


class RealRunsMachine(StagingMachine):
    real_runs = True


def _run(machine: type[StagingMachine], examples: int, steps: int) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=examples, stateful_step_count=steps, deadline=None),
    )


def test_every_complete_valid_line_is_staged_once_per_distinct_mtime() -> None:
    _run(StagingMachine, examples=80, steps=20)


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_the_model_holds_with_real_runs_on_sqlite() -> None:
    _run(RealRunsMachine, examples=6, steps=15)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # 2,150 sequences, 150 of them with real runs: past the default
@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_the_model_holds_over_many_more_sequences() -> None:
    _run(StagingMachine, examples=2000, steps=30)
    _run(RealRunsMachine, examples=150, steps=25)

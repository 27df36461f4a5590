"""Containment: nothing outside the dataset root is read or written because of a manifest line.

Every file the process opens, links, renames or removes is recorded through a Python audit
hook (polars and pyarrow only ever get bytes or file objects opened by our code), and each
recorded path is checked to lie inside the dataset root or the Dagster instance.
"""

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alchemy_assets.dagster_adapters.spec import DatasetSpec
from alchemy_assets.dagster_adapters.stage_runner import stage_dataset
from alchemy_assets.dagster_adapters.tick import plan_tick
from alchemy_assets.layout import DatasetLayout, LayoutError
from alchemy_assets.sampling import SampleError
from alchemy_assets.stage_file import stage_file
from alchemy_assets_tests.conftest import FIGURES

_RECORDED: list[str] | None = None
_EVENTS = {"open", "os.link", "os.rename", "os.remove", "os.truncate", "os.mkdir"}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if _RECORDED is not None and event in _EVENTS and args:
        for arg in args[:2] if event in ("os.link", "os.rename") else args[:1]:
            if isinstance(arg, str | bytes | os.PathLike):
                _RECORDED.append(os.fsdecode(arg))


sys.addaudithook(_hook)


@contextmanager
def recording() -> Iterator[list[str]]:
    global _RECORDED
    _RECORDED = []
    try:
        yield _RECORDED
    finally:
        _RECORDED = None


def _inside(path: str, folder: Path) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real == base or real.startswith(base + os.sep)


def _world(tmp_path: Path, layout: DatasetLayout) -> Path:
    """A secret file and folder outside R, and links inside R that lead to them."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    secret = outside / "secret.csv"
    secret.write_text("secret,1\n2,3\n")
    os.utime(secret, (5.0, 5.0))
    for link, target in (("bronze/link.csv", secret), ("bronze/linkdir", outside)):
        path = layout.root / link
        if not path.is_symlink():
            path.symlink_to(target)
    samples_link = layout.samples / "env9"
    if not samples_link.is_symlink():
        samples_link.symlink_to(outside)
    return outside


def _check(opened: list[str], tmp_path: Path, allowed: list[Path]) -> int:
    """Fail on any recorded path under ``tmp_path`` outside ``allowed``; return the count."""
    mine = [p for p in opened if _inside(p, tmp_path)]
    escaped = [p for p in mine if not any(_inside(p, folder) for folder in allowed)]
    FIGURES["file opens outside the dataset root"] += len(escaped)
    assert escaped == []
    return len(mine)


MALICIOUS = [
    ("raw/env0/a.csv", "bronze/../../../outside/secret.csv"),
    ("raw/env0/b.csv", "/etc/passwd"),
    ("raw/env0/c.csv", "{outside}/secret.csv"),
    ("raw/env0/d.csv", "bronze/link.csv"),
    ("raw/env0/e.csv", "bronze/linkdir/secret.csv"),
    ("raw/env0/f.csv", "bronze/x\u0000.csv"),
    ("raw/../../outside/g.csv", "bronze/ok.csv"),
    ("raw/env9/secret.csv", "bronze/ok.csv"),  # its sample would go through samples/env9 → out
    ("raw/env0/h.csv", "{root}/bronze/../../../../outside/secret.csv"),
]


def _manifest(layout: DatasetLayout, outside: Path, pairs: list[tuple[str, str]]) -> None:
    lines = []
    for raw, bronze in pairs:
        bronze = bronze.format(outside=outside, root=layout.root)
        raw = raw.format(outside=outside, root=layout.root)
        lines.append(json.dumps({"raw": raw, "bronze": bronze, "mtime": 5.0}) + "\n")
    layout.manifest.write_text("".join(lines))


def test_malicious_manifest_lines_never_open_anything_outside_the_root(
    tmp_path: Path,
    layout: DatasetLayout,
    defs: dg.Definitions,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
) -> None:
    outside = _world(tmp_path, layout)
    ok = layout.bronze / "ok.csv"
    ok.write_text("v\n1\n")
    os.utime(ok, (5.0, 5.0))
    _manifest(layout, outside, MALICIOUS)
    home = Path(os.environ["DAGSTER_HOME"])
    job = defs.resolve_job_def(spec.job_name)
    with recording() as opened:
        report = stage_dataset(instance, job, spec, layout)
    assert report.sampled == 0
    # Links fail their partition when the run meets them (never followed)...
    assert sorted(report.failed) == ["env0/d.csv", "env0/e.csv", "env9/secret.csv"]
    # (tried again, in case the link was swapped in for a moment: never followed either)
    gave_up = " (failed after 3 attempts; not retried until re-delivered)"
    assert report.failed == {
        "env0/d.csv": "bronze/link.csv is a symbolic link: staging never follows links" + gave_up,
        "env0/e.csv": "bronze/linkdir is a symbolic link: staging never follows links" + gave_up,
        "env9/secret.csv": "samples/env9 is a symbolic link: staging never follows links" + gave_up,
    }
    # ...and '..', absolute paths outside R and NUL bytes are quarantined when read.
    assert len(report.quarantined) == 6, [str(r) for r in report.quarantined]
    assert _check(opened, tmp_path, [layout.root, home]) > 0
    assert (outside / "secret.csv").read_text() == "secret,1\n2,3\n"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv"]
    FIGURES["traversal paths tried (fixtures)"] += len(MALICIOUS)


SEGMENTS = st.sampled_from(
    [
        "..",
        ".",
        "",
        "bronze",
        "raw",
        "env0",
        "env9",
        "link.csv",
        "linkdir",
        "secret.csv",
        "ok.csv",
        "outside",
        "\x00",
        "%2e%2e",
        "..\\",
        "~",
    ]
)
PATHS = st.builds(
    lambda absolute, parts: ("/" if absolute else "") + "/".join(parts),
    st.booleans(),
    st.lists(SEGMENTS, min_size=1, max_size=6),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(pairs=st.lists(st.tuples(PATHS, PATHS), min_size=1, max_size=5))
def test_generated_paths_never_lead_outside_the_root(
    tmp_path: Path,
    layout: DatasetLayout,
    spec: DatasetSpec,
    instance: dg.DagsterInstance,
    pairs: list[tuple[str, str]],
) -> None:
    outside = _world(tmp_path, layout)
    _manifest(layout, outside, pairs)
    with recording() as opened:
        plan = plan_tick(instance, spec, layout, None)
        for run in plan.runs:
            for due in run:
                with contextlib.suppress(LayoutError, SampleError, OSError, ValueError):
                    stage_file(layout, due, 5)
    _check(opened, tmp_path, [layout.root])
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv"]
    FIGURES["traversal paths tried (hypothesis)"] += 2 * len(pairs)


def test_the_audit_hook_does_see_opens(tmp_path: Path) -> None:
    with recording() as opened:
        (tmp_path / "probe").write_text("x")
    assert str(tmp_path / "probe") in opened
    with pytest.raises(AssertionError):
        _check(opened, tmp_path, [tmp_path / "elsewhere"])
    FIGURES["file opens outside the dataset root"] -= 1  # the probe above was meant to escape

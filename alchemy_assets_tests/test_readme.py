"""The README works as written: its walkthrough commands run on a fresh data root and instance,
every `make` target it names exists, and no link leaves the repository."""

import os
import re
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
README = PROJECT / "README.md"
# Commands that run until stopped: `make demo` (which runs `dg dev -w workspace.yaml`) is run
# by test_supervise.py, `dg dev` and `dagster dev -w workspace.yaml` by test_definitions.py.
LONG_RUNNING = re.compile(r"(^|/)(dg|dagster) dev\b")


def _console_commands(text: str) -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", text, re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_the_walkthrough_runs_as_written_on_a_fresh_root_and_instance(tmp_path: Path) -> None:
    commands = [c for c in _console_commands(README.read_text()) if not LONG_RUNNING.search(c)]
    assert any(c.startswith(".venv/bin/dagster asset materialize") for c in commands), commands
    # The walkthrough's working directory: a checkout's files it names, and its venv.
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (tmp_path / "deploy").symlink_to(PROJECT / "deploy")
    env = {k: v for k, v in os.environ.items() if k not in ("FP_PREFIX", "DAGSTER_HOME")}
    script = "set -euo pipefail\n" + "\n".join(commands) + "\n"
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "1 copied" in output and "1 sampled" in output, output[-4000:]
    assert "RUN_SUCCESS" in output, output[-4000:]
    samples = list((tmp_path / "my-root").rglob("data_sample.csv"))
    assert [p.read_text() for p in samples] == ["id,name\n1,a\n2,b\n"]


def test_the_long_running_commands_it_shows_are_the_tested_ones() -> None:
    text = README.read_text()
    long_running = [c for c in _console_commands(text) if LONG_RUNNING.search(c)]
    assert long_running == [".venv/bin/dg dev -w workspace.yaml"]
    assert "`.venv/bin/dagster dev -w workspace.yaml`" in text


def test_every_make_target_it_names_exists() -> None:
    targets = set(re.findall(r"(?m)^([a-z][\w-]*):", (PROJECT / "Makefile").read_text()))
    named = set(re.findall(r"`make ([a-z][\w-]*)", README.read_text()))
    assert named and named <= targets, named - targets


def test_no_link_in_the_readme_or_docs_leaves_the_repository() -> None:
    for page in [README, *sorted((PROJECT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"https?://", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            assert path.is_relative_to(PROJECT), (page.name, target)
            assert path.exists(), (page.name, target)

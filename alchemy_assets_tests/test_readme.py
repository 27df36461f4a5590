"""The README works as written: its walkthrough commands run on a fresh data root and instance,
its object-store example runs on a fresh bucket of moto's S3 server, every `make` target it
names exists, and no link leaves the repository."""

import os
import re
import subprocess
import sys
from pathlib import Path

from alchemy_assets_tests.s3 import running_server

PROJECT = Path(__file__).resolve().parent.parent
README = PROJECT / "README.md"
# Commands that run until stopped: `make demo` (which runs `dg dev -w workspace.yaml`) is run
# by test_supervise.py, `dg dev` and `dagster dev -w workspace.yaml` by test_definitions.py.
LONG_RUNNING = re.compile(r"(^|/)(dg|dagster) dev\b")


STORE_SECTION = "## On an object store\n"
# What `aws s3 cp FILE s3://BUCKET/KEY` does, for the example's one upload (the AWS CLI is not a
# dependency here): boto3, which reads the same AWS_* variables, puts the file.
AWS_CP = """#!/usr/bin/env python3
import sys, boto3
assert sys.argv[1:3] == ["s3", "cp"] and sys.argv[4].startswith("s3://"), sys.argv
bucket, key = sys.argv[4][5:].split("/", 1)
boto3.client("s3").upload_file(sys.argv[3], bucket, key)
"""


def _console_commands(text: str) -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", text, re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def _sections() -> tuple[str, str]:
    """The README without its object-store section, and that section."""
    text = README.read_text()
    before, rest = text.split(STORE_SECTION, 1)
    store, after = rest.split("\n## ", 1)
    return before + "\n## " + after, store


def _run(commands: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    script = "set -euo pipefail\n" + "\n".join(commands) + "\n"
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def _checkout(folder: Path) -> None:
    """The walkthrough's working directory: a checkout's files it names, and its venv."""
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (folder / "deploy").symlink_to(PROJECT / "deploy")


def test_the_walkthrough_runs_as_written_on_a_fresh_root_and_instance(tmp_path: Path) -> None:
    text, _ = _sections()
    commands = [c for c in _console_commands(text) if not LONG_RUNNING.search(c)]
    assert any(c.startswith(".venv/bin/dagster asset materialize") for c in commands), commands
    _checkout(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("FP_PREFIX", "DAGSTER_HOME")}
    returncode, output = _run(commands, tmp_path, env)
    assert returncode == 0, output[-4000:]
    assert "1 copied" in output and "1 sampled" in output, output[-4000:]
    assert "RUN_SUCCESS" in output, output[-4000:]
    samples = list((tmp_path / "my-root").rglob("data_sample.csv"))
    assert [p.read_text() for p in samples] == ["id,name\n1,a\n2,b\n"]


def test_the_object_store_example_runs_as_written_on_a_fresh_bucket(tmp_path: Path) -> None:
    """`FP_PREFIX=s3://lake/fp`, the raw file put, ingest and stage: on moto, with the example's
    bucket created first and its credentials and endpoint in the environment."""
    _, section = _sections()
    commands = _console_commands(section)
    assert commands and commands[0].startswith("export FP_PREFIX=s3://lake/fp"), commands
    _checkout(tmp_path)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "aws").write_text(AWS_CP)
    (tmp_path / "bin" / "aws").chmod(0o755)
    (tmp_path / "data.csv").write_bytes(b"id,name\n1,a\n2,b\n")
    (tmp_path / "home").mkdir()
    with running_server() as server:
        server.client().create_bucket(Bucket="lake")
        env = {k: v for k, v in os.environ.items() if k not in ("FP_PREFIX", "DAGSTER_HOME")}
        env.update(server.env(), DAGSTER_HOME=str(tmp_path / "home"))
        env["PATH"] = f"{tmp_path / 'bin'}:{Path(sys.executable).parent}:{env['PATH']}"
        returncode, output = _run(commands, tmp_path, env)
        assert returncode == 0, output[-4000:]
        assert "1 copied" in output and "1 sampled" in output, output[-4000:]
        key = "fp/sp/gics_cwiq_pipe/1.0/samples/env0/data_sample.csv"
        sample = server.client().get_object(Bucket="lake", Key=key)["Body"].read()
    assert sample == b"id,name\n1,a\n2,b\n"


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

"""The tiny pipeline killed with SIGKILL at six random moments, then run to the end: no job is
left running, every catalogued artifact is on disk with its sha256, every report parses."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends.workspace import Workspace
from tests.conftest import TINY, cli

pytestmark = pytest.mark.slow


def test_killed_at_random_moments_the_pipeline_still_finishes_whole(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    exe = str(Path(sys.executable).with_name("mllib-tui"))
    rng = random.Random(20261201)
    moments = []
    for _ in range(6):
        run = subprocess.Popen(
            [exe, "run", "--headless", "--json", "-w", str(root), str(TINY)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        # Kill after a random number of events (so kills land in every stage as the runs
        # resume further each time), plus a random part of a second.
        events = rng.randint(1, 40)
        stage = "start"
        assert run.stdout is not None
        for _, line in zip(range(events), run.stdout, strict=False):
            stage = json.loads(line).get("stage", stage)
        time.sleep(rng.random() * 0.5)
        run.send_signal(signal.SIGKILL)
        run.wait()
        moments.append(stage)
    finished = cli("run", "--headless", "--json", "-w", str(root), str(TINY))
    assert finished.returncode == 0, (moments, finished.stderr)

    ws = Workspace.open(root)
    jobs = ws.catalog.jobs()
    assert jobs and not [j for j in jobs if j.state == "running"], moments
    for artifact in ws.catalog.artifacts():
        ws.verify(artifact)  # present, with the catalog's sha256
    reports = list((root / "reports").iterdir())
    assert reports
    for report in reports:
        data = json.loads((report / "results.json").read_text())
        assert data["run_id"] == report.name and data["rows"]
        assert (report / "results.md").read_text().startswith(f"# mllib run {report.name}")
    for run, _, _ in ws.catalog.runs():  # a run in the catalog has its whole report
        assert (root / "reports" / run / "results.json").is_file()
    assert len(set(moments)) >= 3, moments  # the kills landed in several stages
    assert list((root / "tmp").iterdir()) == []  # the killed runs' temporaries are gone

"""The agent's long commands: they stream events until stopped, whether by their time limit, by
the workstation closing stdin, or by the connection dropping; nothing is left running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends import events as ev
from backends.boards import fleet
from backends.boards.inventory import load_inventory
from tests.conftest import start_agent
from tests.sshd import Fleet, _descendants


def test_a_long_command_ends_at_its_time_limit(agent: Path) -> None:
    process = start_agent(agent, command="monitor", interval=0.1, seconds=0.5)
    assert process.stdout is not None
    stdout = process.stdout.read()  # stdin stays open: only the time limit ends it
    process.wait(10)
    events = [ev.decode(line) for line in stdout.splitlines()]
    samples = {e.step for e in events if isinstance(e, ev.Metric)}
    assert process.returncode == 0 and 4 <= len(samples) <= 7
    assert events[-1].detail.endswith("time limit")


def test_closing_stdin_stops_a_long_command(agent: Path) -> None:
    process = start_agent(agent, command="monitor", interval=0.05)
    assert process.stdout is not None and process.stdin is not None
    first = [ev.decode(process.stdout.readline()) for _ in range(6)]
    assert any(isinstance(e, ev.Metric) for e in first)
    started = time.monotonic()
    process.stdin.close()  # what the workstation does to stop it
    rest = [ev.decode(line) for line in process.stdout.read().splitlines()]
    assert process.wait(5) == 0 and time.monotonic() - started < 2
    assert rest[-1].detail.endswith("the workstation stopped it")


def test_a_bad_request_is_one_line(agent: Path) -> None:
    for line in ("not json\n", json.dumps({"command": "fly"}) + "\n", "{}\n"):
        out = subprocess.run(
            [sys.executable, str(agent)], input=line, capture_output=True, text=True
        )
        (error,) = [ev.decode(x) for x in out.stdout.splitlines()]
        assert out.returncode == 2 and isinstance(error, ev.Error) and "\n" not in error.message


@pytest.mark.slow
def test_over_ssh_a_watch_stops_on_request_and_when_the_link_drops(tmp_path: Path) -> None:
    os.makedirs("/run/sshd", exist_ok=True)
    boards = Fleet()
    try:
        board = boards.add("alpha", 0)
        boards.trust_all()
        inventory = load_inventory(boards.devices_toml(tmp_path / "devices.toml"), tmp_path)
        os.environ["MLLIB_KNOWN_HOSTS"] = str(boards.known_hosts)
        metrics: list[ev.Event] = []

        def agents() -> int:  # agent processes on the board
            assert board.process is not None
            return sum(
                "mllib-agent" in Path(f"/proc/{pid}/cmdline").read_text(errors="ignore")
                for pid in _descendants(board.process.pid)
                if Path(f"/proc/{pid}/cmdline").exists()
            )

        async def stopped_by_request() -> int:
            until = asyncio.Event()

            def on_event(event: ev.Event) -> None:
                metrics.append(event)
                if sum(isinstance(e, ev.Metric) for e in metrics) >= 6:
                    until.set()

            await fleet.monitor(
                inventory, inventory.get("alpha"), on_event, seconds=None, interval=0.05,
                until=until,
            )  # fmt: skip
            return agents()

        assert asyncio.run(stopped_by_request()) == 0
        finished = [e for e in metrics if isinstance(e, ev.StageFinished)]
        assert finished and finished[-1].detail.endswith("the workstation stopped it")

        async def dropped() -> int:
            task = asyncio.ensure_future(
                fleet.monitor(
                    inventory,
                    inventory.get("alpha"),
                    lambda e: None,
                    seconds=None,
                    interval=0.05,
                )
            )
            for _ in range(100):
                await asyncio.sleep(0.05)
                if agents():
                    break
            assert agents() == 1
            task.cancel()  # the workstation goes away mid-stream
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for _ in range(100):
                if not agents():
                    break
                await asyncio.sleep(0.05)
            return agents()

        assert asyncio.run(dropped()) == 0
    finally:
        os.environ.pop("MLLIB_KNOWN_HOSTS", None)
        boards.stop()

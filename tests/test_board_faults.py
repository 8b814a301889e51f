"""Boards that fail in ways other than dropping: a runtime that crashes the agent, a board
without SFTP, jump hosts, presigned deploys; real sshd boards (and a real S3 server)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from backends.boards import fleet as fleet_ops
from backends.boards.inventory import load_inventory
from backends.boards.transport import open_transport
from backends.storage import configure, sync
from backends.workspace import Workspace
from tests.conftest import cli, result_rows
from tests.s3server import S3Server
from tests.sshd import Fleet, _descendants

pytestmark = pytest.mark.slow
FAST = ["--warmup-runs", "1", "--warmup-seconds", "0", "--runs", "3", "--seconds", "0"]


def _wrapper(fleet: Fleet, name: str, body: str) -> str:
    """A board "python" that runs ``body`` (sh) before the board's real interpreter."""
    path = fleet.root / name
    path.write_text(f'#!/bin/sh\n{body}\nexec {fleet.python} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IROTH)
    return str(path)


def _run(fleet: Fleet, ws: Path, devices: Path, *args: str):
    return cli(
        *args, "-w", str(ws), "--devices", str(devices),
        env={"MLLIB_KNOWN_HOSTS": str(fleet.known_hosts)},
    )  # fmt: skip


def _int8(ws: Path):
    return next(
        a
        for a in Workspace.open(ws).catalog.artifacts("tflite")
        if a.meta.get("precision") == "int8" and "fidelity" in a.meta
    )


def test_a_runtime_that_crashes_the_agent_keeps_the_boards_finished_rows(
    fleet: Fleet, trained_ws: Path, tmp_path: Path
) -> None:
    """onnxruntime kills the agent (a segfault, as XNNPACK did under qemu); the LiteRT row that
    finished before it is kept, and the board goes on to the rows after it."""
    crash = _wrapper(  # the request is the first line of the agent's stdin
        fleet,
        "segv-python",
        'read -r request\ncase "$request" in *\'"runtime": "onnxruntime"\'*) kill -SEGV $$;; esac\n'
        'printf "%s\\n" "$request" |',
    )
    devices = fleet.devices_toml(tmp_path / "devices.toml", beta={"python": crash})
    int8 = _int8(trained_ws)
    out = _run(fleet, trained_ws, devices, "bench", str(int8.id), "--board", "beta",
               "--runtime", "litert", "--runtime", "onnxruntime", "--runtime", "litert", *FAST,
               "--json")  # fmt: skip
    assert "Traceback" not in out.stderr
    rows = [r for r in result_rows(out) if r.get("board") == "beta"]
    assert [(r["runtime"], r["status"]) for r in rows] == [
        ("litert", "ok"),
        ("onnxruntime", "failed"),
        ("litert", "ok"),
    ]
    assert rows[0]["miou"] > 0 and "agent exited" in rows[1]["error"]


def test_a_board_without_sftp_is_one_line(fleet: Fleet, trained_ws: Path, tmp_path: Path) -> None:
    gamma = fleet.add("gamma", 2)
    gamma.kill()
    config = gamma.dir / "sshd_config"
    config.write_text(config.read_text().replace("Subsystem sftp internal-sftp", ""))
    gamma.start()
    fleet.trust_all()
    devices = fleet.devices_toml(tmp_path / "devices.toml")
    try:
        out = _run(fleet, tmp_path / "ws", devices, "boards", "probe", "gamma")
    finally:
        gamma.kill()
        del fleet.boards["gamma"]
    assert out.returncode == 2 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "board gamma" in line and "SFTP could not start" in line


def test_jump_host_connections_are_closed(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLLIB_KNOWN_HOSTS", str(fleet.known_hosts))
    devices = fleet.devices_toml(tmp_path / "devices.toml", beta={"proxy_jump": "alpha"})
    inventory = load_inventory(devices, tmp_path)
    alpha = fleet.boards["alpha"]

    def sessions() -> int:  # sshd processes serving connections to alpha
        assert alpha.process is not None
        return len(_descendants(alpha.process.pid))

    async def connect_and_close() -> tuple[int, int]:
        transport = await open_transport(inventory.get("beta"), inventory)
        status, _ = await transport.run(["true"])
        assert status == 0
        during = sessions()
        await transport.close()
        for _ in range(50):  # sshd needs a moment to notice the closed connection
            if sessions() == 0:
                break
            await asyncio.sleep(0.05)
        return during, sessions()

    during, after = asyncio.run(connect_and_close())
    assert during > 0 and after == 0


def test_presigned_deploys_keep_the_url_off_the_command_line_and_sign_per_board(
    fleet: Fleet, s3: S3Server, trained_ws: Path, tmp_path: Path
) -> None:
    """Each board's agent reads its URL from stdin (``ps`` shows argv to every user there), and
    each URL is signed just before that board's download, so none waits out its expiry."""
    argv_log, requests = fleet.root / "argv.log", fleet.root / "requests.log"
    for log in (argv_log, requests):
        log.write_text("")
        log.chmod(0o666)  # board users append to it
    logged = _wrapper(  # records each agent's argv, and the request it reads on stdin
        fleet,
        "argv-python",
        f'echo "$@" >> {argv_log}\nread -r request\necho "$request" >> {requests}\n'
        'printf "%s\\n" "$request" |',
    )
    devices = fleet.devices_toml(
        tmp_path / "devices.toml", alpha={"python": logged}, beta={"python": logged}
    )
    creds = s3.creds_json(tmp_path / "creds.json")
    int8 = _int8(trained_ws)
    ws = tmp_path / "ws"
    shutil.copytree(trained_ws, ws)
    store, targets, _ = configure(creds=creds, entry=None, local=Path("."), create_buckets=True)
    homes = {name: fleet.boards[name].home for name in ("alpha", "beta")}
    slot = "via-url"
    signed: list[dict[str, bool]] = []

    async def deploy() -> dict:
        sign = await sync.presigner(
            Workspace.open(ws), store, targets["model"], int8, lambda e: None, 900
        )

        async def counting() -> str:
            signed.append({n: (h / "mllib/deployed" / slot).exists() for n, h in homes.items()})
            return await sign()

        inventory = load_inventory(devices, ws)
        return await fleet_ops.deploy(
            Workspace.open(ws), inventory, int8, [inventory.get("alpha"), inventory.get("beta")],
            lambda e: None, slot=slot, limit=1, sign=counting,
        )  # fmt: skip

    os.environ["MLLIB_KNOWN_HOSTS"] = str(fleet.known_hosts)
    try:
        results = asyncio.run(deploy())
    finally:
        del os.environ["MLLIB_KNOWN_HOSTS"]
    assert all(r["action"] == "deployed" for r in results.values()), results
    assert signed == [{"alpha": False, "beta": False}, {"alpha": True, "beta": False}]
    for home in homes.values():
        model = home / "mllib" / "deployed" / slot / "current" / "model.tflite"
        assert hashlib.sha256(model.read_bytes()).hexdigest() == int8.sha256
    commands = argv_log.read_text()
    assert commands and "http" not in commands and "X-Amz" not in commands
    received = [json.loads(line) for line in requests.read_text().splitlines()]
    urls = [r["url"] for r in received if r["command"] == "receive" and r.get("url")]
    assert len(urls) == 2 and all("X-Amz-Signature" in url for url in urls)  # via stdin


def test_the_same_bytes_under_another_name_are_deployed_whole(
    fleet: Fleet, trained_ws: Path, tmp_path: Path
) -> None:
    """A colleague's workspace calls the same bytes unet-int8.tflite: deployed to a board whose
    store has them as model.tflite, the file is there under its own name."""
    devices = fleet.devices_toml(tmp_path / "devices.toml")
    int8 = _int8(trained_ws)
    assert _run(fleet, trained_ws, devices, "deploy", str(int8.id), "alpha").returncode == 0
    other = Workspace.open(tmp_path / "other")
    source = Workspace.open(trained_ws).path(int8.path)
    copy = other.write_artifact(
        kind="tflite", name="unet-int8.tflite", write=lambda p: shutil.copyfile(source, p),
        meta={"precision": "int8"},
    )  # fmt: skip
    assert copy.sha256 == int8.sha256
    out = _run(fleet, other.root, devices, "deploy", str(copy.id), "alpha", "--slot", "renamed",
               "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["alpha"]["action"] == "deployed"
    current = fleet.boards["alpha"].home / "mllib" / "deployed" / "renamed" / "current"
    assert hashlib.sha256((current / "unet-int8.tflite").read_bytes()).hexdigest() == int8.sha256

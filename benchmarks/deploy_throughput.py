"""Deploy throughput: mllib's deploy of a 50 MB artifact vs OpenSSH's ``sftp -b`` to the same
real sshd board on loopback, in the same run; and the redeploy of an unchanged artifact.

mllib's figure includes what sftp does not do: the sha256 check on the board (the agent) and the
atomic rename and link flip. Target: throughput ratio >= 0.9.

    .venv/bin/python -m benchmarks.deploy_throughput [--mb 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from backends.boards import fleet as board_fleet
from backends.boards.inventory import load_inventory
from backends.workspace import Workspace
from tests.sshd import Fleet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.makedirs("/run/sshd", exist_ok=True)
    boards = Fleet()
    try:
        board = boards.add("bench", 0)
        boards.trust_all()
        os.environ["MLLIB_KNOWN_HOSTS"] = str(boards.known_hosts)
        root = Path(tempfile.mkdtemp())
        ws = Workspace.open(root / "ws")
        devices = boards.devices_toml(root / "devices.toml")
        inventory = load_inventory(devices, ws.root)
        target = [inventory.get("bench")]
        ours, theirs = [], []
        for round_ in range(args.rounds):
            payload = root / f"model-{round_}.tflite"
            payload.write_bytes(os.urandom(args.mb << 20))  # new content: a real upload
            artifact = ws.import_file(payload, "tflite", {"precision": "fp32"})
            start = time.perf_counter()
            result = asyncio.run(
                board_fleet.deploy(ws, inventory, artifact, target, lambda e: None)
            )
            ours.append(time.perf_counter() - start)
            assert not isinstance(result["bench"], BaseException), result
            batch = root / "batch"
            batch.write_text(f"put {payload} sftp-copy-{round_}\n")
            start = time.perf_counter()
            subprocess.run(
                [
                    "sftp",
                    "-q",
                    "-b",
                    str(batch),
                    "-i",
                    str(boards.client_key),
                    "-P",
                    str(board.port),
                    "-o",
                    f"UserKnownHostsFile={boards.known_hosts}",
                    "-o",
                    "StrictHostKeyChecking=yes",
                    f"{board.user}@127.0.0.1",
                ],
                check=True,
                capture_output=True,
            )
            theirs.append(time.perf_counter() - start)
        start = time.perf_counter()
        asyncio.run(board_fleet.deploy(ws, inventory, artifact, target, lambda e: None))
        again = time.perf_counter() - start
        mb = args.mb * 1.048576
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        print(f"{args.mb} MiB to one real sshd board on loopback, median of {args.rounds}")
        print(
            f"mllib deploy   {ours_s:6.2f} s  {mb / ours_s:7.1f} MB/s  "
            "(upload + sha256 on the board + atomic flip)"
        )
        print(f"sftp -b put    {theirs_s:6.2f} s  {mb / theirs_s:7.1f} MB/s")
        print(f"throughput ratio mllib / sftp: {theirs_s / ours_s:.2f} (target >= 0.9)")
        print(f"redeploy of the unchanged artifact: {again:.3f} s")
    finally:
        boards.stop()


if __name__ == "__main__":
    main()

"""The local-directory store: push, pull and check without any server, as the CLI does them."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.workspace import Workspace
from tests.conftest import cli

pytestmark = pytest.mark.slow


def test_the_local_store_works_without_any_server(trained_ws: Path, tmp_path: Path) -> None:
    store = ["--store", str(tmp_path / "store")]
    assert cli("storage", "push", "dataset", "tiny", "-w", str(trained_ws), *store).returncode == 0
    pulled = cli("storage", "pull", "dataset", "tiny", "-w", str(tmp_path / "ws"), *store)
    assert pulled.returncode == 0, pulled.stderr
    assert cli("storage", "check", *store).returncode == 0
    blob = next((tmp_path / "store" / "mllib" / "dataset" / "blobs").iterdir())
    blob.write_bytes(b"rot")
    again = cli("storage", "pull", "dataset", "tiny", "-w", str(tmp_path / "ws2"), *store)
    assert again.returncode == 2 and "damaged" in again.stderr


def test_a_name_with_several_versions_needs_one_picked(tmp_path: Path) -> None:
    ws, store = str(tmp_path / "ws"), ["--store", str(tmp_path / "store")]
    for seed in ("1", "2"):
        made = cli("datasets", "synth", "--name", "d", "--images", "4", "--size", "32x32",
                   "--seed", seed, "-w", ws)  # fmt: skip
        assert made.returncode == 0, made.stderr
        version = made.stdout.split("@")[1].split()[0]
        assert cli("storage", "push", "dataset", f"d@{version}", "-w", ws, *store).returncode == 0
    other = str(tmp_path / "other")
    vague = cli("storage", "pull", "dataset", "d", "-w", other, *store)
    assert vague.returncode == 2 and "matches 2 versions" in vague.stderr
    exact = cli("storage", "pull", "dataset", f"d@{version[:6]}", "-w", other, *store)
    assert exact.returncode == 0, exact.stderr
    assert Workspace.open(other).catalog.dataset("d").version == version

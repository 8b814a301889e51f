"""The images in docker/ lint clean (hadolint; there is no Docker engine here to build them)."""

import subprocess
import sys
from pathlib import Path

import pytest

DOCKERFILES = sorted((Path(__file__).resolve().parents[1] / "docker").glob("*.Dockerfile"))


def test_there_is_an_image_for_the_workstation_each_target_and_ray_nodes() -> None:
    assert {p.stem for p in DOCKERFILES} == {"workstation", "jetson", "rpi", "ray"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.stem)
def test_dockerfile_lints_clean(dockerfile: Path) -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    out = subprocess.run(
        [str(hadolint), "--no-color", str(dockerfile)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr

"""The real console script: help, datasets commands, one-line errors with exit codes."""

import json
from pathlib import Path

import pytest

from tests.conftest import cli


def test_help_teaches_the_commands() -> None:
    out = cli("--help")
    assert out.returncode == 0
    for word in ("run", "datasets", "mllib-tui run --headless"):
        assert word in out.stdout
    run_help = cli("run", "--help").stdout
    for word in ("--headless", "--json", "--workspace", "--min-miou", "--force", "Exit status"):
        assert word in run_help


def test_help_reads_as_prose() -> None:
    """Paragraphs reflow to the width (no line broken mid-sentence), brackets are text."""
    run_help = cli("run", "--help", env={"COLUMNS": "100"}).stdout
    assert "Gate options override the pipeline file's [gates]. Exit status: 0 ok, 1 a" in run_help
    assert "1 a quality gate failed, 2" in run_help  # was broken after "gate" at any width
    assert "Dataset NAME[@VERSION]" in cli("bench", "--help").stdout


def test_piped_output_is_never_wrapped(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "missing.toml"
    out = cli("run", str(deep), "--headless", env={"COLUMNS": ""})  # no width asked for
    assert out.returncode == 2
    (line,) = [text for text in out.stderr.splitlines() if text.strip()]
    assert str(deep) in line


def test_datasets_synth_list_show(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    made = cli("datasets", "synth", "-w", ws, "--images", "10", "--size", "64x64", "--name", "s")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("s@")
    listed = json.loads(cli("datasets", "list", "-w", ws, "--json").stdout)
    assert listed[0]["name"] == "s" and listed[0]["images"] == {"train": 8, "val": 2}
    shown = cli("datasets", "show", "s", "-w", ws)
    assert shown.returncode == 0
    assert "Pixels per class" in shown.stdout and "person" in shown.stdout
    assert json.loads(cli("datasets", "show", "s", "-w", ws, "--json").stdout)["name"] == "s"


def test_import_coco_from_generated_files(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    assert cli("datasets", "synth", "-w", ws, "--images", "6", "--size", "64x64").returncode == 0
    source = next((tmp_path / "ws" / "sources").iterdir())
    out = cli(
        "datasets",
        "import",
        "coco",
        "mine",
        "-w",
        ws,
        "--size",
        "32x32",
        "--train",
        str(source / "annotations" / "instances_train.json"),
        "--val",
        str(source / "annotations" / "instances_val.json"),
        "--images",
        str(source / "images"),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("mine@")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["datasets", "show", "nope"], "dataset 'nope' is not in this workspace"),
        (["datasets", "synth", "--size", "64"], "--size '64' must be HEIGHTxWIDTH"),
        (
            [
                "datasets",
                "import",
                "coco",
                "x",
                "--train",
                "/nonexistent/a.json",
                "--val",
                "/nonexistent/b.json",
                "--images",
                "/tmp",
            ],
            "/nonexistent/a.json: annotation file not",
        ),
        (["run", "--headless", "/nonexistent/pipeline.toml"], "pipeline file not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    out = cli(*args, "-w", str(tmp_path / "ws"))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_bad_pipeline_field_and_unwritable_workspace(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.toml"
    pipeline.write_text("[train]\nepochs = 'many'\n")
    out = cli("run", "--headless", str(pipeline), "-w", str(tmp_path / "ws"))
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {pipeline}: train.epochs must be an integer, got 'many'"
    assert not (tmp_path / "ws").exists()  # nothing written for a bad file
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = cli("run", "--headless", "-w", str(blocker / "ws"))
    assert out.returncode == 2 and "is not writable" in out.stderr

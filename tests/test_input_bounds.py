"""Every number has bounds, every config file a clear line: pipeline values, command-line
options, devices.toml, ~/.ssh/config and the devices.toml that import-ssh-config writes."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from backends.bench.stage import BenchStep
from backends.boards.inventory import load_inventory
from backends.boards.ssh_config import read_hosts
from backends.errors import BadInput
from backends.pipeline import STAGES, load_pipeline
from tests.conftest import cli


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[bench]\nmin_runs = 0", "bench.min_runs must be between 1 and"),
        ("[bench]\nthreads = -1", "bench.threads must be between 0 and"),
        ("[bench]\nwarmup_seconds = -0.5", "bench.warmup_seconds must be between 0 and"),
        ("[bench]\neval_batch_size = 0", "bench.eval_batch_size must be between 1 and"),
        ("[bench]\nmin_seconds = inf", "bench.min_seconds must be a finite number"),
        ("[convert]\nfidelity_images = 0", "convert.fidelity_images must be between 1"),
        ("[convert]\nmax_drop_int8 = nan", "convert.max_drop_int8 must be a finite number"),
        ("[train]\nwidth = 0", "train.width must be between 0.05 and 4"),
        ("[dataset]\nsize = [0, 64]", "dataset.size must be between 8 and 8192, got 0"),
        ("[dataset]\nseed = -1", "dataset.seed must be between 0 and"),
    ],
)
def test_pipeline_values_have_bounds(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(BadInput, match=f"{path}: {message}"):
        load_pipeline(path)


def test_a_pipeline_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(b"[train]\nepochs = 3 # caf\xe9\n")
    with pytest.raises(BadInput, match=r"p.toml: not UTF-8 text \(byte 24\)"):
        load_pipeline(path)


def test_steps_made_in_code_are_bounded_too() -> None:
    """However a step is made (the app, a notebook), its numbers are checked."""
    with pytest.raises(BadInput, match="bench.min_runs must be between 1 and"):
        BenchStep(min_runs=0)
    ranges = [
        f.metadata["range"]
        for stage in STAGES.values()
        for config in [stage.config, *(stage.choices or {}).values()]
        for f in dataclasses.fields(config)
        if "range" in f.metadata
    ]
    assert ranges and all(low <= high for low, high in ranges)


@pytest.mark.parametrize(
    "args",
    [
        ["boards", "probe", "--concurrency", "0"],
        ["bench", "1", "--runs", "0"],
        ["bench", "1", "--batch-size", "0"],
        ["bench", "1", "--threads", "-2"],
        ["convert", "1", "--to", "onnx", "--fidelity-images", "0"],
        ["datasets", "synth", "--images", "1"],
        ["datasets", "synth", "--val-fraction", "1.5"],
        ["deploy", "1", "local", "--concurrency", "0"],
        ["run", "--headless", "--min-miou", "2"],
    ],
)
def test_out_of_range_options_are_refused_before_any_work(tmp_path: Path, args: list[str]) -> None:
    out = cli(*args, "-w", str(tmp_path / "ws"), timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Invalid value for '--" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[boards.pi]\nhost = "x"\ntags = [1]', "field 'tags' must be a list of strings"),
        ('[boards.pi]\nhost = "x"\nruntimes = [{a = 1}]', "field 'runtimes' must be a list of"),
        ('[boards.pi]\nhost = "x"\ntags = "gpu"', "field 'tags' has the wrong type"),
        ("[boards.pi]\nhost = 3", "field 'host' has the wrong type"),
        ('[boards.pi]\nhost = "x"\nconnect_timeout = 0', "'connect_timeout' must be above 0"),
        ('[boards.pi]\nhost = "x"\nproxy_jump = "bastion:99999"', "'proxy_jump' 'bastion:99999'"),
        ('[boards.pi]\nhost = "x"\nproxy_jump = "a:b"', "with a port of 1-65535"),
        ('[boards.pi]\nhost = "x"\nproxy_jump = "a,b"', "one jump host"),
        ('[boards.pi]\nhost = "x"\nuser = "a b"', "field 'user' 'a b' is not a user name"),
        ('[boards.pi]\nhost = "-oProxyCommand=x"', "field 'host' .* is not a host name"),
        ('[boards.pi]\nhost = "x"\npython = ""', "field 'python' must be non-empty"),
        ("[boards]\npi = 3", "board 'pi' must be a table"),
    ],
)
def test_devices_toml_with_wrong_nested_types_is_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "devices.toml"
    path.write_text(text)
    with pytest.raises(BadInput, match=message):
        load_inventory(path, tmp_path)


def test_devices_toml_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "devices.toml"
    path.write_bytes(b'[boards.pi]\nhost = "x"  # B\xfcro\n')
    out = cli("boards", "list", "--devices", str(path), "-w", str(tmp_path / "ws"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "devices.toml: not UTF-8 text" in line


def test_ssh_config_mistakes_are_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text('Host nx\n    IdentityFile "~/.ssh/my key\n')
    with pytest.raises(BadInput, match=r"config:2: No closing quotation in 'identityfile'"):
        read_hosts(config, [])
    config.write_bytes(b"Host nx\n    User j\xf6rg\n")
    with pytest.raises(BadInput, match="config: not UTF-8 text"):
        read_hosts(config, [])
    config.write_text("Host nx\n    Port 0\n")
    with pytest.raises(BadInput, match=r"config:2: Port '0' is not a port"):
        read_hosts(config, [])


def test_quoted_values_are_read_as_ssh_does(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text('Host nx\n    IdentityFile "~/.ssh/my key"  # comment\n')
    assert read_hosts(config, [])["nx"]["identity"] == "~/.ssh/my key"


def test_import_ssh_config_quotes_table_names_and_writes_atomically(tmp_path: Path) -> None:
    """``Host jetson.lab`` is one board, not a table ``lab`` inside ``jetson``; a bad host
    leaves devices.toml exactly as it was."""
    config = tmp_path / "config"
    config.write_text(
        "Host jetson.lab\n    HostName 10.0.0.7\n    User ml\nHost pi.lab\n    HostName 10.0.0.8\n"
    )
    devices = tmp_path / "devices.toml"
    devices.write_text('# my boards\n[boards.bench-pc]\nhost = "10.0.0.2"\n')
    ws = ["-w", str(tmp_path / "ws"), "--devices", str(devices)]
    out = cli("boards", "import-ssh-config", "--config", str(config), *ws)
    assert out.returncode == 0, out.stderr
    boards = load_inventory(devices, tmp_path).boards
    assert {"bench-pc", "jetson.lab", "pi.lab"} <= set(boards)
    assert boards["jetson.lab"].host == "10.0.0.7" and boards["jetson.lab"].user == "ml"
    assert devices.read_text().startswith("# my boards\n")  # what was there is kept
    assert tomllib.loads(devices.read_text())["boards"]["jetson.lab"]["host"] == "10.0.0.7"

    config.write_text("Host broken\n    HostName 10.0.0.9\n    ProxyJump bastion:99999\n")
    before = devices.read_bytes()
    refused = cli("boards", "import-ssh-config", "--config", str(config), *ws)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert "board 'broken': field 'proxy_jump'" in line
    assert devices.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

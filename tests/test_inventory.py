"""devices.toml and ~/.ssh/config: every mistake is one line naming the file, board and field."""

from pathlib import Path

import pytest

from backends.boards.inventory import LOCAL, load_inventory
from backends.boards.ssh_config import read_hosts, to_toml
from backends.errors import BadInput


def _load(tmp_path: Path, text: str):
    path = tmp_path / "devices.toml"
    path.write_text(text)
    return load_inventory(path, tmp_path)


def test_local_is_built_in_and_boards_parse(tmp_path: Path) -> None:
    inv = _load(
        tmp_path,
        """
[boards.jetson-nx]
host = "10.0.0.5"
port = 2222
user = "ml"
identity = "~/.ssh/id_ed25519"
tags = ["jetson", "gpu"]
runtimes = ["tensorrt", "onnxruntime"]
""",
    )
    assert list(inv.boards) == [LOCAL, "jetson-nx"]
    nx = inv.get("jetson-nx")
    assert (nx.host, nx.port, nx.user, nx.tags) == ("10.0.0.5", 2222, "ml", ("jetson", "gpu"))
    assert inv.get(LOCAL).is_local and not nx.is_local
    assert [b.name for b in inv.select([], tag="gpu")] == ["jetson-nx"]
    assert load_inventory(None, tmp_path / "empty").source == "the built-in inventory"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[boards.pi]\nhots = "x"', r"board 'pi': unknown field 'hots' \(did you mean 'host'\?\)"),
        ("[boards.pi]\nport = 22", "board 'pi': field 'host' is required"),
        ('[boards.pi]\nhost = "x"\nport = "22"', "board 'pi': field 'port' has the wrong type"),
        ('[boards.pi]\nhost = "x"\nport = 70000', "field 'port' must be 1-65535"),
        ('[boards."pi; rm -rf /"]\nhost = "x"', "names may use letters, digits"),
        ('[boards."a\\nb"]\nhost = "x"', "names may use letters, digits"),
        ('[boards.pi]\nhost = "x"\nworkdir = "../../etc"', "'workdir' must be a plain path"),
        ('[boards.pi]\nhost = "x"\nworkdir = "a\\nb"', "'workdir' must be a plain path"),
        ('[boards.pi]\nhost = "x"\nruntimes = ["tflite"]', "runtime 'tflite' is unknown"),
        ('[boards.local]\nhost = "x"', "'local' is the built-in workstation board"),
        ('[bords.pi]\nhost = "x"', "unknown top-level key 'bords'"),
        ('[boards.pi]\nhost = "x"\nproxy_jump = "pi"', "proxy_jump cannot be 'pi'"),
        ("[boards.pi\n", "not valid TOML"),
    ],
)
def test_typos_and_bad_values(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        _load(tmp_path, text)


def test_unknown_board_and_missing_file(tmp_path: Path) -> None:
    inv = _load(tmp_path, '[boards.pi]\nhost = "x"')
    with pytest.raises(BadInput, match=r"board 'nx' is not in .*devices.toml \(known: local, pi\)"):
        inv.get("nx")
    with pytest.raises(BadInput, match="no board .* has tag 'gpu'"):
        inv.select([], tag="gpu")
    with pytest.raises(BadInput, match="devices file not found"):
        load_inventory(tmp_path / "nope.toml", tmp_path)


def test_import_from_ssh_config(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("""
Host *
    User everyone
Host nx jetson-nx
    HostName 192.168.1.20
    Port 2222
    User ml   # trailing comment
    IdentityFile ~/.ssh/nx
    ProxyJump bastion
Host pi
    HostName=pi.local
Match host foo
    User ignored
""")
    hosts = read_hosts(config, [])
    assert set(hosts) == {"nx", "jetson-nx", "pi"}
    assert hosts["nx"] == {
        "host": "192.168.1.20",
        "port": 2222,
        "user": "ml",
        "identity": "~/.ssh/nx",
        "proxy_jump": "bastion",
    }
    assert hosts["pi"] == {"host": "pi.local"}
    inv = _load(tmp_path, to_toml(read_hosts(config, ["nx", "pi"])))
    assert inv.get("nx").proxy_jump == "bastion" and inv.get("pi").host == "pi.local"
    with pytest.raises(BadInput, match="no Host 'missing'"):
        read_hosts(config, ["missing"])

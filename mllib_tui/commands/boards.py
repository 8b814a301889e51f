"""``mllib-tui boards``: the inventory, host-key trust, probing, and ~/.ssh/config import."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from backends.boards.inventory import LOCAL, load_inventory, write_devices
from backends.errors import BadInput
from backends.names import is_name
from backends.workspace import Workspace
from mllib_tui.console import new_console
from mllib_tui.headless.diagnostics import diagnosed, exit_for_boards
from mllib_tui.options import ConcurrencyOption, DevicesOption, JsonOption, WorkspaceOption

app = typer.Typer(
    help="Boards over SSH: list, trust host keys, probe, import ~/.ssh/config.",
    no_args_is_help=True,
)
stdout = new_console()


@app.command("list")
def list_boards(
    devices: DevicesOption = None, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """The boards of devices.toml (plus the built-in `local`) and what their last probe found."""
    with diagnosed():
        ws = Workspace.open(workspace)
        inventory = load_inventory(devices, ws.root)
        probes = ws.catalog.last_probes()
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "name": b.name,
                        "address": b.address,
                        "tags": list(b.tags),
                        "probe": probes.get(b.name, (None, None))[1],
                    }
                    for b in inventory.boards.values()
                ]
            )
        )
        return
    table = Table(
        "Board",
        "Address",
        "User",
        "Tags",
        "Arch",
        "Runtimes",
        "Probed",
        title=f"Boards ({inventory.source})",
        title_justify="left",
    )
    for b in inventory.boards.values():
        when, facts = probes.get(b.name, (None, {}))
        table.add_row(
            b.name,
            b.address,
            b.user or "-",
            ", ".join(b.tags) or "-",
            facts.get("arch", "-"),
            ", ".join(facts.get("runtimes", [])) or "-",
            _date(when),
        )
    stdout.print(table)


@app.command()
def probe(
    boards: Annotated[list[str] | None, typer.Argument(help="Board names (default: all).")] = None,
    tag: Annotated[str | None, typer.Option(help="Also every board with this tag.")] = None,
    devices: DevicesOption = None,
    workspace: WorkspaceOption = None,
    concurrency: ConcurrencyOption = 8,
    as_json: JsonOption = False,
) -> None:
    """Architecture, OS, Python, runtimes and versions, accelerators (Jetson/L4T, Coral, Pi),
    memory, disk and temperature of each board; stored in the catalog."""
    from backends.boards import fleet

    with diagnosed():
        ws = Workspace.open(workspace)
        inventory = load_inventory(devices, ws.root)
        chosen = (
            inventory.select(boards or [], tag)
            if boards or tag
            else list(inventory.boards.values())
        )
        results = asyncio.run(fleet.probe(ws, inventory, chosen, lambda e: None, concurrency))
    if as_json:
        print(
            json.dumps(
                {
                    n: str(r) if isinstance(r, BaseException) else {**r, "can_run": _can_run(r)}
                    for n, r in results.items()
                }
            )
        )
    else:
        table = Table(
            "Board",
            "Arch",
            "OS",
            "Python",
            "Runtimes",
            "Can run",
            "Accelerators",
            "Memory",
            title="Probe",
            title_justify="left",
        )
        for name, facts in results.items():
            if isinstance(facts, BaseException):
                table.add_row(name, "[red]failed (below)[/]", "", "", "", "", "", "")

                continue
            versions = ", ".join(f"{m} {v}" for m, v in facts["modules"].items())
            table.add_row(
                name,
                facts["arch"],
                facts["os"],
                facts["python"],
                versions or "none",
                ", ".join(_can_run(facts)) or "nothing mllib runs: install a runtime",
                ", ".join(f"{k}: {v}" for k, v in facts["accelerators"].items()) or "-",
                f"{facts['memory_mb']} MB" if facts.get("memory_mb") else "-",
            )
        stdout.print(table)
    exit_for_boards(results)


def _can_run(facts: dict) -> list[str]:
    from backends.formats import runnable

    return runnable(facts.get("runtimes", []))


@app.command()
def trust(
    board: Annotated[str, typer.Argument(help="Board name from devices.toml.")],
    fingerprint: Annotated[
        str | None,
        typer.Option(
            help="The SHA256:... fingerprint you expect (from the board's console); trusted only "
            "if it matches."
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Trust without asking.")] = False,
    devices: DevicesOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Show a board's host key fingerprint and, once you confirm it, trust it.

    Compare the fingerprint with the one the board prints (ssh-keygen -lf
    /etc/ssh/ssh_host_ed25519_key.pub). A key that differs from a trusted one is never replaced
    here: remove the old line from the known-hosts file first.
    """
    import asyncssh

    from backends.boards import trust as trust_store

    with diagnosed():
        ws = Workspace.open(workspace)
        target = load_inventory(devices, ws.root).get(board)
        if target.is_local:
            raise BadInput("the local board is this workstation: there is no host key to trust")
        assert target.host is not None
        try:
            key = asyncio.run(asyncssh.get_server_host_key(target.host, target.port))
        except (OSError, asyncssh.Error) as exc:
            raise BadInput(f"board {board} ({target.address}) is unreachable: {exc}") from None
        offered = trust_store.fingerprint(key)
        state = trust_store.classify(trust_store.load_known_hosts(), target.host, target.port, key)
        if state == "trusted":
            stdout.print(f"board {board} ({target.address}) is already trusted: {offered}")
            return
        if state == "changed":
            raise BadInput(
                f"board {board} ({target.address}) offers {offered}, which DIFFERS from its "
                "trusted key; not replacing it. If the board was reinstalled, remove its line "
                f"from {trust_store.mllib_known_hosts()} or ~/.ssh/known_hosts and run again"
            )
        stdout.print(f"board {board} ({target.address}) offers host key {offered}")
        if fingerprint is not None and fingerprint != offered:
            raise BadInput(
                f"board {board}: the offered key {offered} does not match "
                f"--fingerprint {fingerprint}; not trusted"
            )
        if fingerprint is None and not yes:
            if not stdout.is_terminal:
                raise BadInput("confirm the fingerprint with --fingerprint SHA256:... or --yes")
            if not typer.confirm("Trust this key?"):
                raise BadInput(f"board {board}: not trusted")
        path = trust_store.add_trusted(target.host, target.port, key)
        stdout.print(f"trusted: {trust_store.host_pattern(target.host, target.port)} in {path}")


@app.command()
def watch(
    board: Annotated[str, typer.Argument(help="Board name from devices.toml (or local).")],
    seconds: Annotated[
        float | None,
        typer.Option(min=0.1, help="Stop after this long (default: until Ctrl-C)."),
    ] = None,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between samples.")] = 1.0,
    devices: DevicesOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Temperature, available memory and load of a board, live, until Ctrl-C or --seconds:
    is it throttling under a long benchmark? The agent stops on the board when this does."""
    from backends import events as ev
    from backends.boards import fleet

    def show(event: ev.Event) -> None:
        if as_json:
            print(ev.encode(event), flush=True)
        elif isinstance(event, ev.Metric):
            values[event.name] = event.value
            if event.name == last:
                shown = "  ".join(f"{k} {v:g}" for k, v in sorted(values.items()))
                stdout.print(f"{board}  {datetime.datetime.now():%H:%M:%S}  {shown}")

    values: dict[str, float] = {}
    last = "swap_free_mb"  # the sample's last figure (memory_state's order)
    with diagnosed():
        ws = Workspace.open(workspace)
        inventory = load_inventory(devices, ws.root)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a watch ends
            asyncio.run(
                fleet.monitor(
                    inventory, inventory.get(board), show, seconds=seconds, interval=interval
                )
            )


@app.command("import-ssh-config")
def import_ssh_config(
    hosts: Annotated[list[str] | None, typer.Argument(help="Host aliases (default: all).")] = None,
    config: Annotated[Path, typer.Option(help="The SSH client config to read.")] = Path(
        "~/.ssh/config"
    ),
    devices: DevicesOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Add boards to devices.toml from ~/.ssh/config (HostName, Port, User, IdentityFile,
    ProxyJump); existing boards are left alone."""
    from backends.boards.ssh_config import read_hosts, to_toml

    with diagnosed():
        ws = Workspace.open(workspace)
        target = devices or ws.root / "devices.toml"
        inventory = load_inventory(devices, ws.root)
        found = read_hosts(config.expanduser(), hosts or [])
        new = {
            n: v
            for n, v in found.items()
            if n not in inventory.boards and is_name(n) and n != LOCAL
        }
        if not new:
            raise BadInput(
                f"{config}: no new hosts to import (found: {', '.join(found) or 'none'})"
            )
        write_devices(target, to_toml(new), ws.root)
        stdout.print(f"added {', '.join(new)} to {target}")


def _date(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")

"""``mllib-tui deploy``: put a model on boards, atomically, with the previous one kept."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from backends.boards.inventory import load_inventory
from backends.names import check_name
from backends.workspace import Workspace
from mllib_tui.console import new_console
from mllib_tui.headless.diagnostics import diagnosed, exit_for_boards
from mllib_tui.headless.output import JsonLines, RichProgress
from mllib_tui.options import (
    ConcurrencyOption,
    CredsOption,
    DevicesOption,
    JsonOption,
    StorageEntryOption,
    WorkspaceOption,
    artifact_id,
)

if TYPE_CHECKING:
    from backends.boards.session import Signer

PRESIGNED_SECONDS = 900  # long enough for a slow board link, short enough to be worthless later


def deploy(
    artifact: Annotated[str, typer.Argument(help="Artifact id (`mllib-tui artifacts`).")],
    boards: Annotated[list[str] | None, typer.Argument(help="Board names.")] = None,
    tag: Annotated[str | None, typer.Option(help="Also every board with this tag.")] = None,
    slot: Annotated[
        str | None,
        typer.Option(
            help="Deployment slot on the board (default: FORMAT-PRECISION, e.g. tflite-int8); the "
            "model is at WORKDIR/deployed/SLOT/current/."
        ),
    ] = None,
    rollback: Annotated[
        bool, typer.Option(help="Make the slot's previous version current again.")
    ] = False,
    via_storage: Annotated[
        bool,
        typer.Option(
            help="Boards download the model themselves through a presigned URL from object "
            "storage (--creds); they need no storage credentials, only HTTPS to the store."
        ),
    ] = False,
    creds: CredsOption = None,
    storage: StorageEntryOption = None,
    concurrency: ConcurrencyOption = 4,
    devices: DevicesOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy a model to boards over SFTP: to a temporary name, sha256 checked on the board,
    renamed into place, then the slot's `current` link flips atomically (the old one becomes
    `previous`). Unchanged models are skipped; an interrupted deploy leaves the old model working.
    """
    from backends.boards import fleet

    stdout = new_console()
    with diagnosed():
        ws = Workspace.open(workspace)
        inventory = load_inventory(devices, ws.root)
        record = ws.catalog.artifact(artifact_id(artifact))
        if slot is not None:
            check_name(slot, "--slot")
        chosen = inventory.select(boards or [], tag)
        with JsonLines() if as_json else RichProgress() as render:

            async def deploy_all() -> dict[str, Any]:
                sign = (
                    await presigner(ws, record, creds, storage, render)
                    if via_storage and not rollback
                    else None
                )
                return await fleet.deploy(
                    ws,
                    inventory,
                    record,
                    chosen,
                    render,
                    slot=slot,
                    rollback=rollback,
                    limit=concurrency,
                    sign=sign,
                )

            results = asyncio.run(deploy_all())
    for name, outcome in results.items():
        if isinstance(outcome, BaseException) or as_json:
            continue
        rate = outcome.get("bytes", 0) / outcome["seconds"] / 1e6 if outcome["seconds"] else 0
        extra = (
            f", {outcome['bytes'] / 1e6:.1f} MB at {rate:.1f} MB/s" if outcome.get("bytes") else ""
        )
        stdout.print(f"{name}: {outcome['action']} in {outcome['seconds']:.2f} s{extra}")
    if as_json:
        print(
            json.dumps(
                {n: (str(o) if isinstance(o, BaseException) else o) for n, o in results.items()}
            )
        )
    exit_for_boards(results)


async def presigner(
    ws: Workspace, record: Any, creds: Path | None, entry: str | None, emit: Any
) -> Signer:
    """What signs a URL of the artifact in the creds.json entry's model set, per board."""
    from backends.errors import BadInput
    from backends.storage import sync, target_of
    from mllib_tui.commands.storage import open_store

    if creds is None:
        raise BadInput("--via-storage needs --creds (an S3 store the boards can reach)")
    store, targets = open_store(creds, entry, Path("."), None, None, None)
    target = target_of(targets, "model")
    return await sync.presigner(ws, store, target, record, emit, PRESIGNED_SECONDS)

"""``mllib-tui storage``: push and pull datasets, artifacts and results through object storage."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from backends.errors import BadInput
from backends.storage import target_of
from backends.workspace import Workspace
from mllib_tui.console import new_console
from mllib_tui.headless.diagnostics import diagnosed
from mllib_tui.headless.output import RichProgress
from mllib_tui.options import (
    CredsOption,
    JsonOption,
    StorageEntryOption,
    WorkspaceOption,
    artifact_id,
)

app = typer.Typer(
    help="Datasets, models and results in object storage: a local directory by default, S3 "
    "(MinIO, SeaweedFS, AWS) with --creds (the original mllib's creds.json) or AWS settings.",
    no_args_is_help=True,
)
stdout = new_console()

LocalOption = Annotated[
    Path,
    typer.Option(
        "--store", envvar="MLLIB_STORE", help="The local store directory (without --creds)."
    ),
]
ProfileOption = Annotated[
    str | None, typer.Option(help="AWS profile (~/.aws/credentials) instead of creds.json.")
]
EndpointOption = Annotated[
    str | None, typer.Option(help="S3 endpoint URL with --profile/AWS_* settings.")
]
BucketOption = Annotated[str | None, typer.Option(help="Bucket with --profile/--endpoint.")]
CreateOption = Annotated[
    bool, typer.Option("--create-bucket", help="Create a missing bucket instead of stopping.")
]
What = Literal["dataset", "artifact", "results"]


def open_store(
    creds: Path | None,
    entry: str | None,
    local: Path,
    profile: str | None,
    endpoint: str | None,
    bucket: str | None,
    create: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """The store and its sets from the command line's storage options; warnings (an unverified
    TLS endpoint, a world-readable creds file) go to stderr on every run."""
    from backends.storage import configure

    store, targets, warnings = configure(
        creds=creds,
        entry=entry,
        local=local,
        profile=profile,
        endpoint=endpoint,
        bucket=bucket,
        create_buckets=create,
    )
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return store, targets


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


@app.command()
def push(
    what: Annotated[What, typer.Argument(help="dataset, artifact or results.")],
    ref: Annotated[
        str, typer.Argument(help="NAME[@VERSION], an artifact id, or a run id ('latest').")
    ],
    workspace: WorkspaceOption = None,
    creds: CredsOption = None,
    storage: StorageEntryOption = None,
    store: LocalOption = Path("mllib-store"),
    profile: ProfileOption = None,
    endpoint: EndpointOption = None,
    bucket: BucketOption = None,
    create_bucket: CreateOption = False,
) -> None:
    """Upload to the store: blobs are content-addressed, so what is already there is skipped.

    Example: mllib-tui storage push dataset demo --creds creds.json --storage minio
    """
    from backends.storage import sync

    with diagnosed():
        ws = Workspace.open(workspace)
        chosen, targets = open_store(
            creds, storage, store, profile, endpoint, bucket, create_bucket
        )
        with RichProgress() as render:
            if what == "dataset":
                record = ws.catalog.dataset(ref)
                target = target_of(targets, "dataset")
                sent = _run(sync.push_dataset(ws, chosen, target, record, render))
                done = f"dataset {record.name}@{record.version}: {sent} file(s) sent"
            elif what == "artifact":
                artifact = ws.catalog.artifact(artifact_id(ref))
                sent = _run(
                    sync.push_artifact(ws, chosen, target_of(targets, "model"), artifact, render)
                )
                done = f"artifact {artifact.id} ({artifact.sha256[:12]}): {sent} file(s) sent"
            else:
                runs = [r for r, _, _ in ws.catalog.runs()]
                run_id = runs[-1] if ref == "latest" and runs else ref
                rows = ws.catalog.results(run_id)
                if not rows:
                    raise BadInput(
                        f"no results for run {ref!r}: list them with `mllib-tui results`"
                    )
                key = _run(sync.push_results(chosen, target_of(targets, "test"), run_id, rows))
                done = f"run {run_id}: {key}"
        stdout.print(f"{done} -> {chosen.label}")


@app.command()
def pull(
    what: Annotated[Literal["dataset", "artifact"], typer.Argument(help="dataset or artifact.")],
    ref: Annotated[str, typer.Argument(help="NAME[@VERSION], or an artifact's sha256 (prefix).")],
    workspace: WorkspaceOption = None,
    creds: CredsOption = None,
    storage: StorageEntryOption = None,
    store: LocalOption = Path("mllib-store"),
    profile: ProfileOption = None,
    endpoint: EndpointOption = None,
    bucket: BucketOption = None,
) -> None:
    """Download into the workspace and record it in the catalog.

    Every file is checked against its sha256; a damaged one is refused and nothing is kept.
    """

    from backends.storage import sync

    with diagnosed():
        ws = Workspace.open(workspace)
        chosen, targets = open_store(creds, storage, store, profile, endpoint, bucket)
        with RichProgress() as render:
            if what == "dataset":
                record = _run(
                    sync.pull_dataset(ws, chosen, target_of(targets, "dataset"), ref, render)
                )
                done = f"dataset {record.name}@{record.version}  {ws.path(record.path)}"
            else:
                artifact = _run(
                    sync.pull_artifact(ws, chosen, target_of(targets, "model"), ref, render)
                )
                done = f"artifact {artifact.id}: {artifact.kind} {artifact.path}"
        stdout.print(done)


@app.command("ls")
def list_store(
    workspace: WorkspaceOption = None,
    creds: CredsOption = None,
    storage: StorageEntryOption = None,
    store: LocalOption = Path("mllib-store"),
    profile: ProfileOption = None,
    endpoint: EndpointOption = None,
    bucket: BucketOption = None,
    as_json: JsonOption = False,
) -> None:
    """What the store holds and whether this workspace has it too."""
    from backends.storage import sync

    with diagnosed():
        ws = Workspace.open(workspace)
        chosen, targets = open_store(creds, storage, store, profile, endpoint, bucket)
        found = _run(sync.listing(ws, chosen, targets))
    if as_json:
        print(json.dumps(found))
        return
    table = Table(
        "Kind", "Name", "Version / sha256", "Here", title=chosen.label, title_justify="left"
    )
    for d in found.get("datasets", []):
        table.add_row("dataset", d["name"], d["version"], "yes" if d["local"] else "-")
    for a in found.get("artifacts", []):
        if "problem" in a:  # an index that does not read as one: listed, never used
            table.add_row("[red]bad index[/]", "-", escape(a["key"]), "-")
            print(f"warning: {a['problem']}", file=sys.stderr)
            continue
        table.add_row(
            a["kind"], a["precision"], (a["sha256"] or "")[:16], "yes" if a["local"] else "-"
        )
    for run in found.get("results", []):
        table.add_row("results", run, "", "")
    stdout.print(table)


@app.command()
def check(
    creds: CredsOption = None,
    storage: StorageEntryOption = None,
    store: LocalOption = Path("mllib-store"),
    profile: ProfileOption = None,
    endpoint: EndpointOption = None,
    bucket: BucketOption = None,
) -> None:
    """Every file the store's indexes name is there with its sha256; exit 3 naming what is not."""
    from backends.errors import StageFailed
    from backends.storage import sync

    with diagnosed():
        chosen, targets = open_store(creds, storage, store, profile, endpoint, bucket)
        problems = _run(sync.check(chosen, targets))
        if problems:
            raise StageFailed(f"{len(problems)} problem(s) in {chosen.label}: {problems[0]}")
    stdout.print(f"{chosen.label}: every indexed file is present with its sha256")

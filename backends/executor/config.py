"""The ``[executor]`` section: where the pipeline's trainings, conversions and benchmark rows run.

``kind = "local"`` (the default) runs them in this process. ``kind = "ray"`` makes each one a
task on the Ray cluster at ``address``; inputs and outputs travel through ``exchange``: a
directory every node mounts (default ``<workspace>/exchange``, which suits a cluster on this
machine) or ``"s3"``, the store of the creds.json entry ``creds_entry`` — read on this
workstation from ``$MLLIB_CREDS`` and on each worker from its own ``$MLLIB_CREDS``, so no key is
ever part of a task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from backends.config import Bounded, bounded
from backends.errors import BadInput

CREDS_ENV = "MLLIB_CREDS"  # a creds.json path, on the workstation and on every worker


@dataclass(frozen=True)
class ExecutorConfig(Bounded):
    """Where the pipeline's trainings, conversions and this machine's benchmark rows run:
    ``local`` (this process, the default) or ``ray`` (each a task on the Ray cluster at
    ``address``, their inputs and outputs through ``exchange``; see docs/ray.md). A worker
    reads store credentials from its own ``$MLLIB_CREDS``: none is ever part of a task."""

    kind: Literal["local", "ray"] = "local"  # local: in this process; ray: tasks on a cluster
    address: str = "auto"  # ray: auto (the cluster on this machine), HOST:PORT or ray://HOST:PORT
    exchange: str = ""  # ray: a directory every node sees (default <workspace>/exchange), or s3
    creds_entry: str | None = None  # exchange = "s3": the creds.json entry (None: the only one)
    cpus: float = bounded(1.0, 0.1, 1024)  # Ray CPUs a training or a conversion task asks for
    gpus: float = bounded(0.0, 0, 64)  # Ray GPUs a training task asks for
    retries: int = bounded(2, 0, 100)  # times Ray reruns a task whose worker died

    SECTION: ClassVar[str] = "executor"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.address.startswith(("http://", "https://")):
            raise BadInput(
                f"executor.address {self.address}: that is a Ray Jobs endpoint, which runs a "
                "whole pipeline as a job: submit one with `ray job submit --address "
                f"{self.address} -- mllib-tui run --headless --executor ray PIPELINE.toml` "
                "(deploy/kuberay/rayjob.yaml does it on Kubernetes); here give auto, HOST:PORT "
                "or ray://HOST:10001"
            )
        if self.creds_entry is not None and self.exchange != "s3":
            raise BadInput('executor.creds_entry names the store of exchange = "s3" only')

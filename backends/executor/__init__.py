"""Where a pipeline's work runs: ``local`` (this process; the default, with no Ray anywhere) or
``ray`` (each training, each conversion and each workstation benchmark row a task on a Ray
cluster). The stages hand their work to an executor and never ask which one it is.

- ``config``: the ``[executor]`` section;
- ``local``: the work in this process;
- ``exchange``: how inputs reach a worker and outputs come back (content-addressed blobs in a
  shared directory or the S3 store, verified by sha256 and recorded here with their lineage);
- ``units``: what a worker runs (one unit of work in a scratch workspace of its own);
- ``ray``: the Ray executor (tasks, resources, retries, events streamed back while they run).
"""

from __future__ import annotations

from backends.events import Emit
from backends.executor.config import ExecutorConfig
from backends.executor.local import Executor, LocalExecutor
from backends.workspace import Workspace


def open_executor(config: ExecutorConfig, ws: Workspace, emit: Emit) -> Executor:
    """The executor ``[executor]`` names, connected (Ray is imported only for kind = "ray")."""
    if config.kind == "local":
        return LocalExecutor()
    from backends.executor.ray import RayExecutor

    return RayExecutor(config, ws, emit)

"""mllib from Python: the workflow of the CLI and the app — datasets, training, conversion,
benchmarks here and on boards, deploys, results — as a small typed library for scripts and
notebooks.

    import mllib

    ws = mllib.Workspace("mllib-workspace")
    data = ws.make_dataset(mllib.Synth(images=64, size=(64, 64)))
    model = ws.train(data, mllib.TrainConfig(epochs=2))
    int8 = ws.convert(model, mllib.ConvertStep(targets=("tflite:int8",)))[0]
    run = ws.benchmark(int8)
    mllib.dataframe(run)                      # a pandas DataFrame, one row per runtime
    mllib.confusion(run.rows[0])              # the confusion heatmap, inline in Jupyter

Everything public is listed in ``__all__`` below; everything else (``backends``, the engine,
and the modules of this package whose names start with ``_``) may change without notice.
Long calls show a progress bar in Jupyter (nothing elsewhere) and stop on the kernel's
interrupt, leaving their job interrupted and what they finished kept, as the CLI does.
Errors are ``MllibError`` with one line that says what to do (``BadInput`` for input,
``StageFailed`` for work that failed, ``GateFailed`` for a missed gate).
"""

from backends.acquire.run import Acquire
from backends.bench.rows import BenchmarkRow, BenchmarkRun
from backends.bench.stage import BenchStep, Gates
from backends.boards.inventory import Board
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.convert.stage import ConvertStep
from backends.datasets.sources import Coco, FashionMnist, Folder, Synth
from backends.errors import BadInput, GateFailed, MllibError, StageFailed
from backends.executor.config import ExecutorConfig
from backends.failures import DifferingImage, FailureImage
from backends.overlays import LabelledImage
from backends.pipeline import Pipeline
from backends.serve.run import Serve
from backends.sweep import Sweep
from backends.train.stage import TrainConfig
from mllib._progress import MllibWarning
from mllib._results import confusion, dataframe, table
from mllib._workspace import Workspace

__all__ = [
    "Acquire",
    "ArtifactRecord",
    "BadInput",
    "BenchStep",
    "BenchmarkRow",
    "BenchmarkRun",
    "Board",
    "Coco",
    "ConvertStep",
    "DatasetRecord",
    "DifferingImage",
    "ExecutorConfig",
    "FailureImage",
    "FashionMnist",
    "Folder",
    "GateFailed",
    "Gates",
    "LabelledImage",
    "MllibError",
    "MllibWarning",
    "Pipeline",
    "Serve",
    "StageFailed",
    "Sweep",
    "Synth",
    "TrainConfig",
    "Workspace",
    "confusion",
    "dataframe",
    "table",
]

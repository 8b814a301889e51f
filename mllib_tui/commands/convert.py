"""``mllib-tui convert``: one conversion, with its fidelity check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from backends.convert.stage import ConvertStep
from backends.errors import BadInput, GateFailed
from backends.tasks import LABELS
from backends.workspace import Workspace
from mllib_tui.console import new_console
from mllib_tui.headless.diagnostics import diagnosed
from mllib_tui.headless.output import JsonLines, RichProgress
from mllib_tui.options import JsonOption, WorkspaceOption, artifact_id, bounds

DEFAULTS = ConvertStep()


def convert(
    model: Annotated[
        str,
        typer.Argument(
            help="Artifact id of a Keras model (`mllib-tui artifacts`), or a .keras file "
            "(with --dataset), which is checked and copied into the workspace first."
        ),
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Target format: onnx, tflite, or edgetpu (int8, compiled from the int8 TFLite "
            "by Coral's edgetpu_compiler). TensorRT engines: `mllib-tui engines build`.",
        ),
    ],
    precision: Annotated[
        str, typer.Option(help="fp32, fp16 or int8 (what the format supports).")
    ] = "fp32",
    opset: Annotated[int, typer.Option(help="ONNX opset (13-18).")] = DEFAULTS.opset,
    int8_io: Annotated[
        str, typer.Option(help="int8 TFLite input/output type: int8, uint8 or float.")
    ] = DEFAULTS.int8_io,
    representative_images: Annotated[
        int,
        typer.Option(
            help="int8 calibration images, drawn stratified by class.",
            **bounds(ConvertStep, "representative_images"),
        ),
    ] = DEFAULTS.representative_images,
    fidelity_images: Annotated[
        int,
        typer.Option(
            help="Validation images compared against the Keras model.",
            **bounds(ConvertStep, "fidelity_images"),
        ),
    ] = DEFAULTS.fidelity_images,
    dataset: Annotated[
        str | None,
        typer.Option(help="Dataset NAME[@VERSION] a .keras file is checked against."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Convert again even if done before.")] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Convert a trained model and check its fidelity against the Keras model.

    The fidelity gates (fp32 and fp16: mIoU within 0.001 and 0.002; int8: drop at most 0.01) are
    those of a pipeline's [convert] section. A converted model that misses its gate is kept,
    marked as failed, and the command exits 1.
    """
    from backends.convert.job import convert as run_convert
    from backends.convert.job import parse_target

    stdout = new_console()
    with diagnosed():
        if int8_io not in ("int8", "uint8", "float"):
            raise BadInput(f"--int8-io {int8_io!r} must be int8, uint8 or float")
        step = ConvertStep(
            targets=(f"{to}:{precision}",),
            opset=opset,
            int8_io=int8_io,
            representative_images=representative_images,
            fidelity_images=fidelity_images,
        )
        fmt, prec = parse_target(f"{to}:{precision}")
        ws = Workspace.open(workspace)
        if model.isdigit():
            source = ws.catalog.artifact(artifact_id(model))
        elif dataset is None:
            raise BadInput(f"{model}: a model file needs --dataset NAME to check fidelity on")
        else:
            from backends.model_files import import_model_file

            source = import_model_file(ws, Path(model), "fp32", ws.catalog.dataset(dataset))
        with JsonLines() if as_json else RichProgress() as render:
            result = run_convert(ws, source, fmt, prec, step, render, force=force)
        f = result.fidelity
        if as_json:
            print(
                json.dumps(
                    {
                        "artifact": result.artifact.id,
                        "path": result.artifact.path,
                        "cached": result.cached,
                        "fidelity": f,
                    }
                )
            )
        else:
            stdout.print(
                f"artifact {result.artifact.id}: {fmt.name} {prec} "
                f"({result.artifact.size / 1e6:.2f} MB){' (reused)' if result.cached else ''}\n"
                f"  fidelity on {f['images']} images: max abs diff {f['max_abs_diff']:.2e}, "
                f"argmax agreement {f['argmax_agreement']:.4%}, {LABELS[f['metric']]} "
                f"{f['value']:.4f} ({f['delta']:+.4f}) — {'passed' if f['passed'] else 'FAILED'} "
                f"({f['gate']})"
            )
            if "edgetpu_summary" in result.artifact.meta:
                stdout.print(f"  Edge TPU: {result.artifact.meta['edgetpu_summary']}")
        if not result.passed:
            raise GateFailed(
                f"{fmt.name} {prec} (artifact {result.artifact.id}) missed its "
                f"fidelity gate: {f['gate']}, change {f['delta']:+.4f}"
            )

"""The board agent's command line. Every line on stdout is one event (backends.events).

    agent.pyz probe WORKDIR
    agent.pyz receive --path TMP --sha256 SHA --store DIR (--size N | --url-stdin) [--slot DIR]
    agent.pyz rollback --slot DIR
    agent.pyz bench --model PATH --runtime NAME --split MANIFEST [protocol options]
    agent.pyz engine --onnx PATH --out PATH --precision P [build options]   (TensorRT)

Exit status: 0 ok, 2 bad input (named in an Error event), 3 failure, 128+N on signal N.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from backends import events as ev


class Stopped(Exception):
    """SIGTERM or SIGHUP arrived (the workstation gave up, or the connection closed)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


def emit(event: ev.Event) -> None:
    sys.stdout.write(ev.encode(event) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stopped)
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except Stopped as stop:
        _quietly(
            ev.StageFinished(
                stage=args.command, status="interrupted", seconds=0.0, detail=str(stop)
            )
        )
        return 128 + stop.signum
    except BrokenPipeError:  # the workstation hung up: nobody is listening any more
        return 141
    except ModuleNotFoundError as exc:
        if exc.name != "numpy":
            raise
        _quietly(
            ev.Error(
                stage=args.command,
                error_type="BadInput",
                message=(
                    "numpy is not installed for this Python: install it (pip install 'numpy<2' for "
                    "tflite-runtime boards, or apt install python3-numpy)"
                ),
            )
        )
        return 2

    except Exception as exc:
        from backends.errors import BadInput

        _quietly(ev.Error(stage=args.command, message=str(exc), error_type=type(exc).__name__))
        return 2 if isinstance(exc, (BadInput, FileNotFoundError, ValueError)) else 3


def _probe(args: argparse.Namespace) -> int:
    from backends.agent.probe import probe

    emit(ev.Result(stage="probe", name="probe", data=probe(args.workdir)))
    return 0


def _receive(args: argparse.Namespace) -> int:
    """Take a blob into this board's store, durably: follow an SFTP upload to PATH while it
    arrives (``--size``) or download the presigned URL that the first line of stdin holds (never
    argv: ``ps`` shows argv to every user); hash it and refuse other bytes; fsync it; move it
    into STORE (beside other names of the same bytes, if any); with ``--slot``, make it the
    slot's ``current`` model (the old one becomes ``previous``). Each rename is fsynced, so a
    power cut leaves either the old model or the new one."""
    path, store = Path(args.path), Path(args.store)
    if args.url_stdin:
        digest, size = _download(sys.stdin.readline().strip(), path)
    else:
        digest, size = _follow(path, args.size, args.stall)
    if digest != args.sha256:
        from backends.errors import StageFailed

        path.unlink()
        raise StageFailed(
            f"{path.name} arrived damaged (sha256 {digest[:12]}, expected {args.sha256[:12]}); "
            "nothing was kept: deploy again"
        )
    _fsync(path)
    _install(path, store)
    switched = _switch(Path(args.slot), store) if args.slot else False
    emit(
        ev.Result(
            stage="receive",
            name=path.name,
            data={
                "sha256": digest,
                "size": size,
                "path": str(store / path.name),
                "switched": switched,
            },
        )
    )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    """Swap a slot's ``current`` and ``previous`` links (each flip fsynced)."""
    from backends.errors import BadInput

    slot = Path(args.slot)
    current, previous = _link(slot / "current"), _link(slot / "previous")
    if current is None or previous is None:
        raise BadInput(f"slot {slot.name!r} has no previous version to roll back to")
    _point(slot, "current", previous)
    _point(slot, "previous", current)
    emit(ev.Result(stage="rollback", name=slot.name, data={"current": previous}))
    return 0


def _follow(path: Path, size: int, stall: float) -> tuple[str, int]:
    """sha256 and size of a file still being written, read until it has ``size`` bytes;
    gives up after ``stall`` seconds without growth."""
    digest, done = hashlib.sha256(), 0
    deadline = time.monotonic() + stall
    while not path.exists():
        if time.monotonic() > deadline:
            raise FileNotFoundError(f"{path} did not appear")
        time.sleep(0.005)
    with open(path, "rb") as handle:
        while done < size:
            chunk = handle.read(1 << 20)
            if chunk:
                digest.update(chunk)
                done += len(chunk)
                deadline = time.monotonic() + stall
            elif time.monotonic() > deadline:
                raise ValueError(f"{path} stopped growing at {done} of {size} bytes")
            else:
                time.sleep(0.005)
    return digest.hexdigest(), done


def _download(url: str, path: Path) -> tuple[str, int]:
    """Fetch a (presigned) URL with the board's own TLS trust, hashing as it comes. Messages
    name the host and path, never the query (it carries the signature)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    where = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{where or 'stdin'}: not an http(s) URL")
    digest, done = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(path, "wb") as out:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
    except urllib.error.HTTPError as exc:
        raise ValueError(f"{where}: HTTP {exc.code} {exc.reason} (expired URL?)") from None
    except urllib.error.URLError as exc:
        raise ValueError(f"{where}: cannot fetch ({exc.reason})") from None
    return digest.hexdigest(), done


def _install(path: Path, store: Path) -> None:
    """Move the temporary directory holding ``path`` to ``store`` in one rename; when ``store``
    exists already (the same bytes under another name, or a concurrent upload that won), move
    the file into it instead, unless that name is there too."""
    if not store.exists():
        try:
            os.rename(path.parent, store)
        except OSError:
            if not store.is_dir():
                raise
        else:
            _fsync(store.parent)
            return
    if not (store / path.name).exists():
        os.rename(path, store / path.name)
        _fsync(store)


def _switch(slot: Path, store: Path) -> bool:
    """Point ``slot/current`` at ``store`` (the old target becomes ``previous``); False when
    it already pointed there."""
    slot.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(store, slot)
    current = _link(slot / "current")
    if current == target:
        return False
    if current is not None:
        _point(slot, "previous", current)
    _point(slot, "current", target)
    return True


def _point(slot: Path, name: str, target: str) -> None:
    """Atomically make ``slot/name`` a symlink to ``target`` (rename over the old), durably."""
    tmp = slot / f".{name}-{os.getpid()}-{time.monotonic_ns()}"
    os.symlink(target, tmp)
    os.rename(tmp, slot / name)
    _fsync(slot)


def _link(path: Path) -> str | None:
    return os.readlink(path) if path.is_symlink() else None


def _fsync(path: Path) -> None:
    """fsync a file, or a directory (its entries: renames and new names)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _bench(args: argparse.Namespace) -> int:
    from backends.bench.protocol import Protocol, benchmark
    from backends.datasets.shards import Split
    from backends.events import ProgressReporter
    from backends.runtimes import load

    start = time.monotonic()
    manifest = json.loads(Path(args.split).read_text())
    split = Split(Path(args.split).parent, tuple(manifest["shards"]))
    emit(ev.StageStarted(stage="bench", title=f"{args.runtime} on {split.size} images"))
    options: dict = {"disable_default_delegates": True} if args.disable_default_delegates else {}
    if args.fingerprint:
        options = {"fingerprint": json.loads(args.fingerprint)}
    runtime = load(args.runtime, Path(args.model), threads=args.threads, **options)
    protocol = Protocol(
        args.warmup_runs,
        args.warmup_seconds,
        args.runs,
        args.seconds,
        args.batch_size,
        args.eval_batch_size,
    )
    progress = ProgressReporter(emit, "bench", split.size, "images")
    from backends.machine import manifest as machine

    row = {
        "runtime_version": runtime.version,
        "threads": runtime.threads,
        "options": runtime.options,
        "machine": machine(),
    }
    row.update(
        benchmark(
            runtime,
            split,
            protocol,
            classes=manifest["classes"],
            ignore=manifest["ignore"],
            task=manifest.get("task") or "segmentation",
            on_images=progress.advance,
        )
    )
    row["agent_cpu_seconds"] = time.process_time()  # the board's CPU spent, imports included
    emit(ev.Result(stage="bench", name=args.runtime, data=row))

    emit(ev.StageFinished(stage="bench", status="done", seconds=time.monotonic() - start))
    return 0


def _engine(args: argparse.Namespace) -> int:
    """Build a TensorRT engine here: with TensorRT's Python module, else with trtexec."""
    from backends.agent.probe import memory_state
    from backends.tensorrt import preflight
    from backends.tensorrt.fingerprint import identity_here
    from backends.tensorrt.gpu import query

    start = time.monotonic()
    emit(ev.StageStarted(stage="engine", title=f"TensorRT {args.precision} engine"))
    gpus = (query() or {}).get("gpus") or []
    state = {**memory_state(), "gpu": gpus[0] if gpus else None}
    needed = preflight.needed_mb(Path(args.onnx).stat().st_size, args.workspace_mb)
    preflight.check(needed, state, args.workspace_mb, "")  # the workstation names the board
    out, cache = Path(args.out), Path(args.calibration_cache) if args.calibration_cache else None
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        data = _engine_trtexec(args, out, cache)
    else:
        from backends.tensorrt.build import build_engine

        data = build_engine(
            Path(args.onnx),
            out,
            args.precision,
            workspace_mb=args.workspace_mb,
            max_batch=args.max_batch,
            calibration=Path(args.calibration) if args.calibration else None,
            calibration_cache=cache,
        )
        data["builder"] = "tensorrt-python"
    data.update(identity_here(data["tensorrt"]))
    data.update(
        sha256=_file_sha256(out),
        size=out.stat().st_size,
        calibration_sha256=_file_sha256(cache) if cache is not None and cache.exists() else None,
    )
    emit(ev.Result(stage="engine", name=str(out), data=data))
    emit(ev.StageFinished(stage="engine", status="done", seconds=time.monotonic() - start))
    return 0


def _engine_trtexec(args: argparse.Namespace, out: Path, cache: Path | None) -> dict:
    import subprocess

    from backends.errors import BadInput, StageFailed
    from backends.tensorrt import trtexec

    program = trtexec.find()
    if program is None:
        raise BadInput(
            "this board has no TensorRT: install JetPack's python3-libnvinfer (sudo apt install "
            "python3-libnvinfer), or put trtexec on the PATH"
        )
    if args.precision == "int8" and (cache is None or not cache.exists()):
        raise BadInput(
            "int8 here needs a calibration cache: this board has trtexec but not TensorRT's "
            "Python module, and trtexec cannot calibrate from images; install "
            "python3-libnvinfer, or build the int8 engine once where it is installed"
        )
    tmp = out.with_name(out.name + ".tmp")
    argv = trtexec.command(program, args.onnx, tmp, args.precision, args.workspace_mb, None, cache)
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    report = trtexec.parse(done.stdout + done.stderr)
    if done.returncode != 0 or report.passed is False or not tmp.exists():
        raise StageFailed(f"trtexec failed: {report.error or done.stderr.strip()[-200:]}")
    tmp.replace(out)
    return {
        "builder": "trtexec",
        "tensorrt": report.tensorrt,
        "calibrated_batches": None,
        "calibration_cache": str(cache) if cache else None,
        "trtexec": {"latency_ms": report.latency_ms, "gpu_compute_ms": report.gpu_compute_ms},
    }


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mllib-agent")
    commands = parser.add_subparsers(dest="command", required=True)
    probe = commands.add_parser("probe")
    probe.add_argument("workdir")
    probe.set_defaults(handler=_probe)
    receive = commands.add_parser("receive")
    receive.add_argument("--path", required=True, help="where the bytes arrive (a temporary)")
    receive.add_argument("--sha256", required=True, help="the bytes expected")
    receive.add_argument("--store", required=True, help="the blob's store directory")
    source = receive.add_mutually_exclusive_group(required=True)
    source.add_argument("--size", type=int, help="follow an upload until it has this many bytes")
    source.add_argument("--url-stdin", action="store_true", help="fetch the URL read from stdin")
    receive.add_argument("--stall", type=float, default=30.0, help="seconds without growth")
    receive.add_argument("--slot", help="make it this slot directory's current model")
    receive.set_defaults(handler=_receive)
    rollback = commands.add_parser("rollback")
    rollback.add_argument("--slot", required=True)
    rollback.set_defaults(handler=_rollback)
    bench = commands.add_parser("bench")
    bench.add_argument("--model", required=True)
    bench.add_argument("--runtime", required=True)
    bench.add_argument("--split", required=True)
    bench.add_argument("--threads", type=int, default=0)
    bench.add_argument("--warmup-runs", type=int, default=10)
    bench.add_argument("--warmup-seconds", type=float, default=1.0)
    bench.add_argument("--runs", type=int, default=50)
    bench.add_argument("--seconds", type=float, default=2.0)
    bench.add_argument("--batch-size", type=int, default=1)
    bench.add_argument("--eval-batch-size", type=int, default=8)
    bench.add_argument("--disable-default-delegates", action="store_true")
    bench.add_argument("--fingerprint", help="TensorRT: the engine's fingerprint (JSON)")
    bench.set_defaults(handler=_bench)
    engine = commands.add_parser("engine")
    engine.add_argument("--onnx", required=True)
    engine.add_argument("--out", required=True)
    engine.add_argument("--precision", required=True, choices=("fp32", "fp16", "int8"))
    engine.add_argument("--workspace-mb", type=int, default=1024)
    engine.add_argument("--max-batch", type=int, default=8)
    engine.add_argument("--calibration", help="int8: a .npy of uint8 images")
    engine.add_argument("--calibration-cache", help="int8: read if present, else written")
    engine.set_defaults(handler=_engine)
    return parser


def _raise_stopped(signum: int, _frame: object) -> None:
    raise Stopped(signum)


def _quietly(event: ev.Event) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        emit(event)


if __name__ == "__main__":
    sys.exit(main())

"""Label Studio's API: read a project's finished annotations and make them a COCO file of the
exported images, so they import like any tool's export (``labels.import_labels``).

The token comes from ``LABEL_STUDIO_API_KEY`` and goes only into the request's header: never
into the catalog, a job's parameters, an event or an error. A personal access token (a JWT) is
exchanged for an access token first; a legacy token is sent as is. TLS is verified.

Each task mllib exported carries its image's sha256, so an annotation finds its image in the
export (or, for a capture, the workspace's frames) however Label Studio renamed the file.
Polygons become COCO polygons, brush strokes (which Label Studio's own COCO export leaves out)
exact masks, rectangles boxes (painted ignore, with a warning).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backends.acquire.frames import frame_path, holds
from backends.annotate import TOKEN_ENV, lineage, shapes
from backends.catalog import DatasetRecord
from backends.errors import BadInput
from backends.events import Emit, Log
from backends.workspace import Workspace

TIMEOUT = 120  # seconds: an export of a large project takes a while


class Client:
    def __init__(self, url: str, token: str | None = None) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise BadInput("--url must be http(s)://HOST[:PORT] of a Label Studio server")
        if parsed.username or parsed.password:
            raise BadInput(f"--url holds credentials: put the token in {TOKEN_ENV} instead")
        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        if not token:
            raise BadInput(
                f"set {TOKEN_ENV} to your Label Studio access token (Account & Settings -> "
                "Access Token); it is read from the environment only"
            )
        self._token = token
        self._header: str | None = None

    def _authorization(self) -> str:
        if self._header is None:
            if self._token.count(".") == 2:  # a personal access token (JWT): refresh it
                answer = self._request("/api/token/refresh", {"refresh": self._token}, auth=False)
                if not isinstance(answer, dict) or not isinstance(answer.get("access"), str):
                    raise BadInput(f"Label Studio at {self.url}: the token refresh gave no token")
                self._header = f"Bearer {answer['access']}"
            else:
                self._header = f"Token {self._token}"
        return self._header

    def get(self, path: str) -> Any:
        return self._request(path)

    def _request(self, path: str, body: Any = None, *, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = self._authorization()
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers)
        where = f"Label Studio at {self.url}"
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            hint = {
                401: f"the token in {TOKEN_ENV} was refused",
                403: f"the token in {TOKEN_ENV} may not do this",
                404: "no such project (check --project)",
            }.get(exc.code, exc.reason)
            raise BadInput(
                f"{where}: {path.split('?')[0]} answered HTTP {exc.code}: {hint}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BadInput(f"{where} cannot be reached: {reason}") from None
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise BadInput(f"{where}: {path.split('?')[0]} did not answer JSON") from None


def finished_tasks(client: Client, project: int) -> list[dict[str, Any]]:
    """The project's tasks that have at least one annotation, with their annotations."""
    tasks = client.get(f"/api/projects/{project}/export?exportType=JSON&download_all_tasks=false")
    if not isinstance(tasks, list):
        raise BadInput(f"Label Studio at {client.url}: project {project}'s export is not a list")
    return tasks


def to_coco(ws: Workspace, tasks: list[dict[str, Any]], root: Path, emit: Emit, where: str) -> Path:
    """Each task's latest annotation as COCO (``root/annotations.json``) over the exported
    images (linked or copied into ``root/images``)."""
    known = {
        image["sha256"]: (e, image) for e in lineage.exports(ws) for image in e.index["images"]
    }
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    skipped = 0
    (root / "images").mkdir(parents=True)
    for t, task in enumerate(tasks):
        at = (
            f"{where}: task {task.get('id', t)}" if isinstance(task, dict) else f"{where}: task {t}"
        )
        annotation = _latest(task, at)
        if annotation is None:
            skipped += 1
            continue
        sha = (task.get("data") or {}).get("mllib_sha256")
        if sha not in known:
            raise BadInput(
                f"{at}: its data has no mllib_sha256 of an exported image: the task was not "
                "exported by mllib (export it as COCO from Label Studio and use `datasets "
                "import coco --annotations`)"
            )
        export, entry = known[sha]
        file = _image(ws, export, entry, root / "images", at)
        image_id = len(images)
        height, width = _size(annotation["result"], file, at)
        images.append(
            {"id": image_id, "file_name": f"images/{file.name}", "height": height, "width": width}
        )
        for r, result in enumerate(annotation["result"]):
            for ann in _shapes(result, height, width, f"{at}: result[{r}]"):
                name = ann.pop("label")
                category = names.setdefault(name, len(names) + 1)
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": category,
                        **ann,
                    }
                )
    if skipped:
        emit(
            Log(
                stage="dataset",
                level="warning",
                message=f"{where}: {skipped} task(s) have no finished annotation: left out",
            )
        )
    if not images:
        raise BadInput(f"{where}: no task has a finished annotation: nothing to pull")
    categories = [{"id": i, "name": n} for n, i in names.items()]
    out = root / "annotations.json"
    out.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return out


def _latest(task: Any, at: str) -> dict[str, Any] | None:
    """The newest annotation that was submitted (not skipped), or None."""
    if not isinstance(task, dict) or not isinstance(task.get("annotations", []), list):
        raise BadInput(f"{at}: not a task object with a list of annotations")
    done = [
        a
        for a in task.get("annotations", [])
        if isinstance(a, dict) and not a.get("was_cancelled") and isinstance(a.get("result"), list)
    ]
    return max(done, key=lambda a: (str(a.get("updated_at", "")), a.get("id", 0))) if done else None


def _image(
    ws: Workspace, export: lineage.Export, entry: dict[str, Any], into: Path, at: str
) -> Path:
    """The exported image, from the export's directory or the workspace's frames, linked (or
    copied) into ``into`` under its exported name; only bytes of the recorded sha256 count (a
    file changed since the export is not the image that was labelled)."""
    target = into / entry["file"]
    for candidate in (
        Path(export.record.meta["output"]) / "images" / entry["file"],
        frame_path(ws.root, entry["sha256"]),
    ):
        if candidate.is_file() and holds(candidate, entry["sha256"]):
            try:
                os.link(candidate, target)
            except OSError:
                shutil.copyfile(candidate, target)
            return target
    raise BadInput(
        f"{at}: image {entry['file']} of export {export.record.id} is neither in "
        f"{export.record.meta['output']}/images nor among this workspace's frames, as exported"
    )


def _size(results: list[Any], file: Path, at: str) -> tuple[int, int]:
    """The image's (height, width) as Label Studio saw it (checked against the file later)."""
    for result in results:
        if isinstance(result, dict) and "original_height" in result:
            height, width = result["original_height"], result["original_width"]
            if all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (height, width)
            ):
                return height, width
            raise BadInput(f"{at}: original_height/original_width must be positive whole numbers")
    import cv2

    image = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise BadInput(f"{file}: unreadable image ({at})")
    return int(image.shape[0]), int(image.shape[1])


def _shapes(result: Any, height: int, width: int, at: str) -> Iterator[dict[str, Any]]:
    """COCO annotations (with a ``label``) of one Label Studio result."""
    if not isinstance(result, dict) or not isinstance(result.get("value"), dict):
        raise BadInput(f"{at}: not a result object with a value")
    kind, value = result.get("type"), result["value"]
    labels = value.get(kind) if isinstance(kind, str) else None
    if kind not in ("polygonlabels", "brushlabels", "rectanglelabels"):
        return  # choices, text and other tags label no pixels
    if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
        raise BadInput(f"{at}.value.{kind} must name one label")
    if (result.get("original_height"), result.get("original_width")) != (height, width):
        raise BadInput(f"{at}: labels an image of another size than the task's first result")
    if kind == "polygonlabels":
        points = value.get("points")
        if not isinstance(points, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, int | float) for v in p)
            for p in points
        ):
            raise BadInput(f"{at}.value.points must be a list of [x, y] percentages")
        flat = [v * size / 100 for x, y in points for v, size in ((x, width), (y, height))]
        yield {"label": labels[0], "segmentation": [flat], "iscrowd": 0}
    elif kind == "brushlabels":
        if value.get("format") != "rle":
            raise BadInput(
                f"{at}.value.format {value.get('format')!r}: only 'rle' brushes are read"
            )
        mask = shapes.brush_decode(value.get("rle"), height, width, f"{at}.value")
        yield {"label": labels[0], "segmentation": shapes.coco_rle(mask), "iscrowd": 0}
    else:
        box = [value.get(k) for k in ("x", "y", "width", "height")]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box):
            raise BadInput(f"{at}.value must hold x, y, width and height percentages")
        x, y, w, h = box
        yield {
            "label": labels[0],
            "segmentation": [],
            "bbox": [x * width / 100, y * height / 100, w * width / 100, h * height / 100],
        }


def pull(
    ws: Workspace,
    *,
    url: str,
    project: int,
    name: str,
    emit: Emit,
    val_fraction: float = 0.2,
    seed: int = 0,
    size: tuple[int, int] | None = None,
) -> DatasetRecord:
    """Project ``project``'s finished annotations as dataset version ``name``."""
    from backends.annotate.labels import import_labels

    client = Client(url)
    where = f"Label Studio project {project} at {client.url}"
    emit(Log(stage="dataset", level="info", message=f"reading the annotations of {where}"))
    tasks = finished_tasks(client, project)
    tmp = ws.temporary("label-studio")
    try:
        annotations = to_coco(ws, tasks, tmp, emit, where)
        record = import_labels(
            ws,
            name=name,
            annotations=annotations,
            images_dir=tmp,
            emit=emit,
            val_fraction=val_fraction,
            seed=seed,
            size=size,
            via={"label_studio": {"url": client.url, "project": project, "tasks": len(tasks)}},
            where=where,
        )
        emit(Log(stage="dataset", level="info", message=f"labels of {where} are {record.ref}"))
        return record
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

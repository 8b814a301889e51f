"""Annotate: send a dataset version out for labelling (COCO, CVAT, Label Studio), with a model's
predictions as pre-labels, and take the labels back as a new version with its lineage."""

from typing import Literal

# Light constants the app's forms import before anything heavy is loaded.
ExportFormat = Literal["coco", "cvat", "label-studio"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("coco", "cvat", "label-studio")
TOKEN_ENV = "LABEL_STUDIO_API_KEY"  # Label Studio's access token: read from the environment only
LOCAL_FILES = "/data/local-files/?d=images/"  # Label Studio serving the export's images/

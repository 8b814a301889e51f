"""A person labelling in Label Studio, through label-studio-sdk: create a project from CONFIG,
import TASKS (with their pre-annotations), then on the first task accept the pre-labels and
add a brush stroke, on the second accept them and add a rectangle, skip the third (a
cancelled annotation) and leave the rest. Prints the project id and what was drawn."""

import json
import sys
from pathlib import Path

import numpy as np
from label_studio_sdk import LabelStudio
from label_studio_sdk.converter.brush import encode_rle

url, token, config, tasks_file = sys.argv[1:5]
client = LabelStudio(base_url=url, api_key=token)
project = client.projects.create(title="bench-cam", label_config=Path(config).read_text())
client.projects.import_tasks(id=project.id, request=json.loads(Path(tasks_file).read_text()))
tasks = sorted(client.tasks.list(project=project.id), key=lambda t: t.id)


def predicted(task):
    prediction = task.predictions[0]
    return list(prediction["result"] if isinstance(prediction, dict) else prediction.result)


height, width = 72, 96
brush = np.zeros((height, width, 4), np.uint8)
brush[12:36, 24:60, 3] = 255  # rows 12..35, columns 24..59
stroke = {
    "from_name": "brush",
    "to_name": "image",
    "type": "brushlabels",
    "original_width": width,
    "original_height": height,
    "image_rotation": 0,
    "value": {"format": "rle", "rle": encode_rle(brush.ravel()), "brushlabels": ["person"]},
}
box = {
    "from_name": "label",
    "to_name": "image",
    "type": "rectanglelabels",
    "original_width": width,
    "original_height": height,
    "image_rotation": 0,
    "value": {
        "x": 50.0,
        "y": 50.0,
        "width": 25.0,
        "height": 25.0,
        "rotation": 0,
        "rectanglelabels": ["vehicle"],
    },
}
client.annotations.create(id=tasks[0].id, result=[*predicted(tasks[0]), stroke])
client.annotations.create(id=tasks[1].id, result=[*predicted(tasks[1]), box])
client.annotations.create(id=tasks[2].id, result=[], was_cancelled=True)
print(json.dumps({"project": project.id, "files": [t.data["mllib_file"] for t in tasks]}))

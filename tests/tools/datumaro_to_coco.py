"""datumaro (the library CVAT imports and exports through): read SOURCE in FORMAT, write it as
COCO instances to OUTPUT with its images, masks written as MODE (mask | polygons)."""

import json
import sys

import datumaro as dm

source, fmt, output, mode = sys.argv[1:5]
dataset = dm.Dataset.import_from(source, fmt)
labels = [c.name for c in dataset.categories()[dm.AnnotationType.label]]
masks = sum(a.type == dm.AnnotationType.mask for item in dataset for a in item.annotations)
dataset.export(output, "coco_instances", save_media=True, segmentation_mode=mode)
print(json.dumps({"items": len(dataset), "labels": labels, "masks": masks}))

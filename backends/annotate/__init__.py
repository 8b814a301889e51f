"""Annotate: send a dataset version out for labelling (COCO, CVAT, Label Studio), with a model's
predictions as pre-labels, and take the labels back as a new version with its lineage."""

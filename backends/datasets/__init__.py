"""Datasets: COCO instances -> semantic masks, a synthetic COCO generator, and npz shards."""

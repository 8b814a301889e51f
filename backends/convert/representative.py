"""Representative images for int8 calibration, drawn stratified by class.

Random draws under-represent rare classes, and int8 ranges calibrated without them clip those
classes' activations. Here every class gets its turn: round-robin over classes, each taking the
not-yet-chosen image with the most pixels of that class (for classification: the next image of
that class). Targets are scored one shard at a time and only the chosen images are read, so
memory does not grow with the dataset. numpy only.
"""

from __future__ import annotations

import numpy as np

from backends.datasets.shards import Split


def stratified(split: Split, count: int, num_classes: int) -> np.ndarray:
    """Up to ``count`` images (uint8 NHWC) from ``split``, classes taking turns."""
    where: list[tuple[int, int]] = []  # (shard, index in shard) per image
    scores = []
    for shard in range(len(split.shards)):
        targets = split.read_targets(shard)
        flat = targets.reshape(len(targets), -1)  # labels (N,) or masks (N, H, W)
        scores.append(np.stack([(flat == c).sum(1) for c in range(num_classes)], 1))
        where += [(shard, i) for i in range(len(targets))]

    if not where or count <= 0:
        return np.zeros((0, 0, 0, 3), np.uint8)
    pixels = np.concatenate(scores)
    rankings = [list(np.argsort(-pixels[:, c], kind="stable")) for c in range(num_classes)]
    chosen: list[int] = []
    taken: set[int] = set()
    while len(chosen) < min(count, len(where)):
        for ranking in rankings:
            while ranking and ranking[0] in taken:
                ranking.pop(0)
            if ranking and len(chosen) < count:
                taken.add(ranking[0])
                chosen.append(int(ranking.pop(0)))
    picked = []
    for shard in sorted({where[i][0] for i in chosen}):
        images, _ = split.read(shard)
        picked += [(i, images[where[i][1]]) for i in chosen if where[i][0] == shard]
    order = {image: rank for rank, image in enumerate(chosen)}
    return np.stack([image for _, image in sorted(picked, key=lambda p: order[p[0]])])

import numpy as np

from backends.datasets.preprocess import augment, letterbox


def _sample(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4 : h // 2, w // 4 : w // 2] = 2
    mask[0, 0] = 3
    return image, mask


def test_letterbox_keeps_aspect_and_pads_with_ignore() -> None:
    image, mask = _sample(100, 200)
    out_image, out_mask = letterbox(image, mask, (64, 64), ignore=255)
    assert out_image.shape == (64, 64, 3) and out_mask.shape == (64, 64)
    # 100x200 -> 32x64, centred vertically: 16 rows of padding above and below
    assert (out_mask[:16] == 255).all() and (out_mask[-16:] == 255).all()
    assert (out_image[:16] == 0).all()
    assert set(np.unique(out_mask[16:48])) <= {0, 2, 3}  # nearest: no invented labels


def test_letterbox_is_deterministic_and_identity_at_size() -> None:
    image, mask = _sample(64, 64)
    a = letterbox(image, mask, (64, 64), 255)
    assert (a[0] == image).all() and (a[1] == mask).all()
    big = _sample(300, 120)
    first, second = letterbox(*big, (96, 64), 255), letterbox(*big, (96, 64), 255)
    assert all((x == y).all() for x, y in zip(first, second, strict=True))


def test_augment_is_seeded_and_never_invents_labels() -> None:
    image, mask = _sample(64, 64)
    runs = [augment(image, mask, (64, 64), 255, np.random.default_rng(5)) for _ in range(2)]
    assert (runs[0][0] == runs[1][0]).all() and (runs[0][1] == runs[1][1]).all()
    for seed in range(20):
        out_image, out_mask = augment(image, mask, (64, 64), 255, np.random.default_rng(seed))
        assert out_image.shape == (64, 64, 3) and out_mask.shape == (64, 64)
        assert set(np.unique(out_mask)) <= {0, 2, 3, 255}
    different = augment(image, mask, (64, 64), 255, np.random.default_rng(6))
    assert not (different[0] == runs[0][0]).all()

from pathlib import Path

import pytest

from backends.errors import BadInput
from backends.pipeline import Pipeline, load_pipeline

ROOT = Path(__file__).resolve().parents[1]


def test_example_pipelines_load() -> None:
    for path in (ROOT / "examples").glob("*.toml"):
        assert isinstance(load_pipeline(path), Pipeline)
    tiny = load_pipeline(ROOT / "examples" / "tiny.toml")
    assert tiny.dataset.size == (64, 64) and tiny.train.epochs == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[train]\nepocs = 3", r"unknown key 'train.epocs' \(allowed in train: network, epochs,"),
        ("[train]\nnetwork = 'resnet'", "train.network must be one of 'auto', 'unet', 'cnn'"),
        ("[dataset]\nchannels = 2", "dataset.channels must be one of 1, 3, got 2"),
        ("[dataset]\ntrain_images = 0", "dataset.train_images must be between 1 and"),
        ("[gates]\nmin_accuracy = 1.5", "gates.min_accuracy must be between 0 and 1"),
        (
            "[trian]\nepochs = 3",
            r"unknown key 'trian' \(allowed in the top level: acquire, dataset,",
        ),
        ("[train]\nepochs = 'ten'", "train.epochs must be an integer, got 'ten'"),
        ("[train]\nepochs = true", "train.epochs must be an integer, got True"),
        ("[train]\nepochs = 0", "train.epochs must be between 1 and"),
        ("[dataset]\nsize = [64]", "dataset.size must be a list of 2 numbers"),
        ("[dataset]\nsource = 'csv'", "dataset.source must be one of 'synth', 'coco'"),
        ("[gates]\nmin_miou = 2", "gates.min_miou must be between 0 and 1"),
        ("train = 3", "train must be a table"),
        ("[train\n", "not valid TOML"),
    ],
)
def test_bad_pipeline_files_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(BadInput, match=f"{path}: {message}" if "TOML" not in message else message):
        load_pipeline(path)


def test_numbers_are_widened_where_floats_are_expected(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[train]\nlearning_rate = 1\n[gates]\nmin_miou = 0")
    pipeline = load_pipeline(path)
    assert pipeline.train.learning_rate == 1.0 and isinstance(pipeline.train.learning_rate, float)
    assert pipeline.gates.min_miou == 0.0


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="pipeline file not found"):
        load_pipeline(tmp_path / "none.toml")

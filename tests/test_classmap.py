import json
from pathlib import Path

import pytest

from backends.datasets.classmap import ClassMap
from backends.errors import BadInput


def test_builtin_coco4_is_the_original_map() -> None:
    m = ClassMap.load("coco-4")
    assert m.classes == ("void", "person", "vehicle", "animal")
    assert m.ignore == 255 and m.other == 0
    vehicles = ["bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"]
    animals = [
        "bird",
        "cat",
        "dog",
        "horse",
        "sheep",
        "cow",
        "elephant",
        "bear",
        "zebra",
        "giraffe",
    ]
    assert all(m.categories[v] == 2 for v in vehicles)
    assert all(m.categories[a] == 3 for a in animals)
    lookup = m.lookup([{"id": 1, "name": "person"}, {"id": 62, "name": "chair"}], "x")
    assert lookup == {1: 1, 62: 0}


def test_user_map_from_file_by_name_or_id(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(
        json.dumps(
            {
                "name": "mine",
                "ignore": 200,
                "other": None,
                "classes": [
                    {"id": 0, "name": "bg", "categories": [62]},
                    {"id": 1, "name": "people", "categories": ["person"]},
                ],
            }
        )
    )
    m = ClassMap.load(str(path))
    assert m.lookup([{"id": 1, "name": "person"}, {"id": 62, "name": "chair"}], "x") == {
        1: 1,
        62: 0,
    }
    assert ClassMap.parse(m.to_json(), "again") == m


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be a JSON object"),
        ({"classes": []}, "classes must be a non-empty list"),
        ({"classes": [{"id": 1, "name": "a"}]}, r"classes\[0\] must be an object with id 0"),
        ({"classes": [{"id": 0, "name": 5}]}, r"classes\[0\].name must be a string"),
        ({"classes": [{"id": 0, "name": "a", "categories": ["x", "x"]}]}, "repeated 'x'"),
        ({"classes": [{"id": 0, "name": "a"}], "ignore": 0}, "ignore must be an integer"),
        ({"classes": [{"id": 0, "name": "a"}], "other": 3}, "other must be a class id"),
    ],
)
def test_bad_maps_name_the_field(doc: object, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        ClassMap.parse(doc, "map.json")


def test_unknown_map_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="neither a built-in"):
        ClassMap.load("no-such-map")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(BadInput, match="bad.json: not valid JSON"):
        ClassMap.load(str(bad))

"""Class maps: which COCO categories become which training class (data files, not code).

A map is JSON: ``name``, ``ignore`` (the label excluded from loss and metrics), ``other`` (the
class for categories not listed; ``null`` makes an unlisted category an error), ``classes``, a
list of ``{"id", "name", "categories"}`` where categories are COCO names or numeric ids, and
optionally ``ignore_categories``: categories painted with the ignore label (don't-care regions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from backends.errors import BadInput

BUILTIN = "coco-4"


@dataclass(frozen=True)
class ClassMap:
    name: str
    classes: tuple[str, ...]
    ignore: int
    other: int | None
    categories: dict[str | int, int]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @classmethod
    def load(cls, ref: str = BUILTIN) -> ClassMap:
        """A built-in map by name (``coco-4``) or a JSON file path."""
        builtin = resources.files("backends.datasets") / "classmaps" / f"{ref}.json"
        if builtin.is_file():
            return cls.parse(json.loads(builtin.read_text()), ref)
        path = Path(ref)
        if not path.is_file():
            raise BadInput(f"class map {ref!r} is neither a built-in ({BUILTIN}) nor a file")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data: Any, source: str) -> ClassMap:
        def bad(field: str, what: str) -> BadInput:
            return BadInput(f"{source}: {field} {what}")

        if not isinstance(data, dict):
            raise bad("the document", "must be a JSON object")
        entries = data.get("classes")
        if not isinstance(entries, list) or not entries:
            raise bad("classes", "must be a non-empty list of {id, name, categories}")
        names: list[str] = []
        categories: dict[str | int, int] = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or entry.get("id") != index:
                raise bad(f"classes[{index}]", f"must be an object with id {index} (ids count up)")
            if not isinstance(entry.get("name"), str):
                raise bad(f"classes[{index}].name", "must be a string")
            names.append(entry["name"])
            for category in entry.get("categories", []):
                if not isinstance(category, str | int) or category in categories:
                    raise bad(f"classes[{index}].categories", f"has a bad or repeated {category!r}")
                categories[category] = index
        ignore = data.get("ignore", 255)
        if not isinstance(ignore, int) or not len(names) <= ignore <= 255:
            raise bad("ignore", f"must be an integer from {len(names)} to 255")
        for category in data.get("ignore_categories", []):
            if not isinstance(category, str | int) or category in categories:
                raise bad("ignore_categories", f"has a bad or repeated {category!r}")
            categories[category] = ignore
        other = data.get("other")
        if other is not None and other not in range(len(names)):
            raise bad("other", "must be a class id or null")
        return cls(str(data.get("name", source)), tuple(names), ignore, other, categories)

    def lookup(self, coco_categories: list[dict[str, Any]], source: str) -> dict[int, int]:
        """COCO category id -> class id for one annotation file's ``categories`` list."""
        table: dict[int, int] = {}
        for category in coco_categories:
            cid, name = category["id"], category["name"]
            mapped = self.categories.get(name, self.categories.get(cid, self.other))
            if mapped is None:
                raise BadInput(
                    f"{source}: category {name!r} (id {cid}) is not in class map {self.name!r}: "
                    'add it to a class or set "other" in the map'
                )
            table[cid] = mapped
        return table

    def to_json(self) -> dict[str, Any]:
        labels = (*range(self.num_classes), self.ignore)
        grouped: dict[int, list[str | int]] = {i: [] for i in labels}
        for category, index in self.categories.items():
            grouped[index].append(category)
        return {
            "name": self.name,
            "ignore": self.ignore,
            "other": self.other,
            "classes": [
                {"id": i, "name": n, "categories": grouped[i]} for i, n in enumerate(self.classes)
            ],
            **({"ignore_categories": grouped[self.ignore]} if grouped[self.ignore] else {}),
        }

"""What changed from one model to the next: layer lines and recipe fields, diffed."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from ..models import CourseModel


@dataclass(frozen=True)
class LayerRow:
    before: str  # "" when the layer was added
    after: str  # "" when the layer was removed
    change: str  # "same", "changed", "added" or "removed"


def layer_diff(previous: list[str], current: list[str]) -> list[LayerRow]:
    """Both layer lists side by side, aligned where they agree."""
    rows: list[LayerRow] = []
    matcher = difflib.SequenceMatcher(a=previous, b=current, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        before, after = previous[i1:i2], current[j1:j2]
        if tag == "equal":
            rows += [LayerRow(b, a, "same") for b, a in zip(before, after, strict=True)]
            continue
        paired = min(len(before), len(after))
        rows += [LayerRow(before[k], after[k], "changed") for k in range(paired)]
        rows += [LayerRow(b, "", "removed") for b in before[paired:]]
        rows += [LayerRow("", a, "added") for a in after[paired:]]
    return rows


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def recipe_diff(previous: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, before, after) for every recipe field that differs."""
    before, after = _flatten(previous), _flatten(current)
    return [(name, _show(before.get(name)), _show(after.get(name)))
            for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)]


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "–" if value is None else str(value)


@dataclass(frozen=True)
class ModelChanges:
    previous: CourseModel
    layers: list[LayerRow]
    recipe: list[tuple[str, str, str]]

    @property
    def layers_changed(self) -> bool:
        return any(row.change != "same" for row in self.layers)


def model_changes(model: CourseModel, previous: CourseModel | None) -> ModelChanges | None:
    if previous is None:
        return None
    return ModelChanges(previous, layer_diff(previous.layer_lines(), model.layer_lines()),
                        recipe_diff(previous.recipe.to_dict(), model.recipe.to_dict()))

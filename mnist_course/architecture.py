"""``architecture.json``: the receptive-field table and layer summary of a course model.

Both come from the model's structure alone (a forward pass on a dummy image): no
training and no data. The file carries a key derived from the layer spec, so the report
builder can tell when it no longer matches the model and must be written again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from torch import nn

from . import results as store
from .errors import ResultsError
from .layers import layer_summary
from .receptive_field import trace_receptive_field

# Bump when the content of architecture.json changes shape, so older files count as stale.
ARCHITECTURE_FORMAT = 1


def architecture_record(model: nn.Module, input_size: tuple[int, int, int] = (1, 28, 28)
                        ) -> dict[str, Any]:
    """The receptive-field table, layer rows and totals of ``model``, ready for JSON."""
    field = trace_receptive_field(model, input_size)
    layers = layer_summary(model, input_size)
    return {
        "receptive_field": field.rows,
        "receptive_field_note": field.note(),
        "layers": layers["rows"],
        "total_params": layers["total_params"],
        "has_linear": any(isinstance(m, nn.Linear) for m in model.modules()),
        "final_rf": field.final_rf,  # None: something on the way could not be followed
    }


def architecture_key(course_model) -> str:
    """A short hash of the model's layer spec: it changes exactly when the layers do."""
    spec = json.dumps(course_model.architecture_json(), sort_keys=True)
    return hashlib.sha256(spec.encode("utf-8")).hexdigest()[:16]


def architecture_path(results_dir: Path, model_id: str) -> Path:
    return Path(results_dir) / model_id / "architecture.json"


def write_architecture(course_model, results_dir: Path) -> Path:
    """Write ``<results_dir>/<model_id>/architecture.json`` (atomic, sorted keys: the same
    model always gives the same bytes) and return its path."""
    record = architecture_record(course_model.network())
    record.update(model_id=course_model.id, architecture_key=architecture_key(course_model),
                  format=ARCHITECTURE_FORMAT)
    path = architecture_path(results_dir, course_model.id)
    store.write_json(path, record)
    return path


def architecture_is_current(course_model, results_dir: Path) -> bool:
    """True when architecture.json exists, is readable and matches the model's layers."""
    try:
        record = store.read_json(architecture_path(results_dir, course_model.id))
    except ResultsError:
        return False
    return (isinstance(record, dict) and record.get("model_id") == course_model.id
            and record.get("architecture_key") == architecture_key(course_model)
            and record.get("format") == ARCHITECTURE_FORMAT)


__all__ = ["ARCHITECTURE_FORMAT", "architecture_is_current",
           "architecture_key", "architecture_path", "architecture_record",
           "write_architecture"]

"""``architecture.json``: the receptive-field table and layer summary of a course model.

Both come from the model's structure alone (a forward pass on a dummy image): no
training and no data. The file carries a key derived from the layer spec, so the report
builder can tell when it no longer matches the model and must be written again
(:func:`mnist_course.store.runs.architecture_is_current`, torch-free).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

import mnist_course.store.files as store
from mnist_course.architecture.layers import layer_summary
from mnist_course.architecture.receptive_field import trace_receptive_field
from mnist_course.models.network import has_linear_layer
from mnist_course.store.runs import ARCHITECTURE_FORMAT, architecture_key, architecture_path


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
        "has_linear": has_linear_layer(model),
        "final_rf": field.final_rf,  # None: something on the way could not be followed
    }


def write_architecture(course_model, results_dir: Path) -> Path:
    """Write ``<results_dir>/<model_id>/architecture.json`` (atomic, sorted keys: the same
    model always gives the same bytes) and return its path."""
    record = architecture_record(course_model.network())
    record.update(model_id=course_model.id, architecture_key=architecture_key(course_model),
                  format=ARCHITECTURE_FORMAT)
    path = architecture_path(results_dir, course_model.id)
    store.write_json(path, record)
    return path


__all__ = ["architecture_record", "write_architecture"]

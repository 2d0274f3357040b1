"""``from mnist_course.receptive_field import receptive_field``: the path students' files and
notebooks use for the receptive-field table. The code lives in
:mod:`mnist_course.architecture.receptive_field`, with the other measurements of a network."""

from mnist_course.architecture.receptive_field import (
    HEIGHT_AXIS_NOTE,
    Field,
    FieldTrace,
    receptive_field,
    trace_receptive_field,
)

__all__ = ["HEIGHT_AXIS_NOTE", "Field", "FieldTrace", "receptive_field", "trace_receptive_field"]

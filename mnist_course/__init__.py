"""mnist_course: a fully convolutional MNIST course, from skeleton to 99.4 % under 8,000 parameters.

The public API students use in their own assignments::

    import mnist_course as mc
    data = mc.load_mnist("data")                      # MNIST as tensors on the device
    model = MyNet()
    records, lr_trace = mc.fit(model, mc.Recipe(epochs=2), data.subset(5000))
    from mnist_course.receptive_field import receptive_field
    receptive_field(model)                            # the receptive-field table
    mc.layer_summary(model)                           # per-layer shapes and parameters
    mc.check_requirements(metrics)                    # the assignment's four checks

A student's own course (their models, any ``nn.Module``) is an ``mc.Course`` of
``mc.CourseModel``s in a file or a notebook; ``mnist-course build --course FILE --out DIR``
or ``mc.build(COURSE, DIR)`` trains it and writes its site and WRITEUP.md (see
:mod:`mnist_course.course.definition` and :mod:`mnist_course.pipeline.python_api`).

Names that need torch are imported on first use, so ``import mnist_course`` (and the
report layer, which never needs torch) stays light.
"""

from __future__ import annotations

import importlib

from mnist_course.course.definition import Course, CourseModel
from mnist_course.course.loading import load_course
from mnist_course.course.recipe import Augmentation, Recipe
from mnist_course.errors import CourseError, DataError, ResultsError, UsageError
from mnist_course.pipeline.python_api import BuildSummary, build
from mnist_course.summary import check_requirements, summarize, summarize_seeds
from mnist_course.version import __version__

# public name -> module that defines it (imported lazily: these modules import torch).
# receptive_field is not here: students import it from its own module,
# mnist_course.receptive_field, which would rebind a package attribute of the same name.
_LAZY = {
    "MNISTData": "training.data", "load_mnist": "training.data",
    "random_affine": "training.data", "normalize": "training.data",
    "fit": "training.engine", "evaluate": "training.engine",
    "recalibrate_batch_norm": "training.engine", "train_step": "training.engine",
    "pick_device": "training.device", "layer_summary": "architecture.layers",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'mnist_course' has no attribute {name!r}")


__all__ = [
    "Augmentation", "BuildSummary", "Course", "CourseError", "CourseModel", "DataError", "Recipe",
    "ResultsError", "UsageError", "build", "load_course",
    "__version__", "check_requirements", "summarize", "summarize_seeds", *_LAZY,
]

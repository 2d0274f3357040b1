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
:mod:`mnist_course.course` and :mod:`mnist_course.build_api`).

Names that need torch are imported on first use, so ``import mnist_course`` (and the
report layer, which never needs torch) stays light.
"""

from __future__ import annotations

import importlib

# ``mc.build`` is the function of build_api, while ``mnist_course.build`` is also a
# submodule: importing a submodule the first time rebinds the package attribute of its
# name, so the submodule is imported first (isort order), before the function takes it.
from . import build as _build_module  # noqa: E402, F401
from .build_api import BuildSummary, build  # noqa: E402
from .course import Course, CourseModel  # noqa: E402
from .courses import load_course  # noqa: E402
from .errors import CourseError, DataError, ResultsError, UsageError  # noqa: E402
from .recipe import Augmentation, Recipe  # noqa: E402
from .summary import check_requirements, summarize, summarize_seeds  # noqa: E402
from .version import __version__  # noqa: E402

# public name -> module that defines it (imported lazily: these modules import torch).
# receptive_field is not here: its module has the same name, and importing a submodule
# rebinds the package attribute, so it is imported from mnist_course.receptive_field.
_LAZY = {
    "MNISTData": "data", "load_mnist": "data", "random_affine": "data", "normalize": "data",
    "fit": "engine", "evaluate": "engine", "recalibrate_batch_norm": "engine",
    "train_step": "engine", "pick_device": "device",
    "layer_summary": "layers",
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

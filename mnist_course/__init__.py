"""mnist_course: a fully convolutional MNIST course, from skeleton to 99.4 % under 8,000 parameters.

The public API students use in their own assignments::

    import mnist_course as mc
    data = mc.load_mnist("data")                 # MNIST as tensors on the device
    model = MyNet()
    records, _ = mc.fit(model, mc.Recipe(epochs=2), data.subset(5000))
    mc.receptive_field(model)                    # the receptive-field table
    mc.layer_summary(model)                      # per-layer shapes and parameters
"""

from __future__ import annotations

__version__ = "0.1.0"

from .data import Augmentation, MNISTData, load_mnist, random_affine  # noqa: E402
from .errors import CourseError, DataError, ResultsError, UsageError  # noqa: E402
from .train import Recipe, evaluate, fit, pick_device  # noqa: E402

__all__ = [
    "Augmentation", "CourseError", "DataError", "MNISTData", "Recipe", "ResultsError",
    "UsageError", "__version__", "evaluate", "fit", "load_mnist", "pick_device",
    "random_affine",
]

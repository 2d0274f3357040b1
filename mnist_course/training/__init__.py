"""Training: the only place torch trains a network.

Owns MNIST on disk (:mod:`.mnist_files`, torch-free) and as tensors on the device
(:mod:`.data`), the device and its determinism (:mod:`.device`), the engine that fits a
model to a recipe and evaluates it (:mod:`.engine`, which knows nothing of the results
store) and one seed of one course model trained into the results store with its
checkpoint and provenance (:mod:`.train_model`).

May import :mod:`mnist_course.course`, :mod:`mnist_course.models` and
:mod:`mnist_course.store`; never the report or the build pipeline.
"""

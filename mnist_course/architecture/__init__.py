"""A network's architecture, measured without data and without training.

Owns one dummy image through a model (:mod:`.probe`), the per-layer shapes and parameters
(:mod:`.layers`), the receptive field followed through the real forward pass
(:mod:`.receptive_field`; students import it as ``mnist_course.receptive_field``) and the
static checks a build runs before it trains (:mod:`.static_checks`).

Needs torch. May import :mod:`mnist_course.course` (a course model, a student's code),
:mod:`mnist_course.models` and the assignment's terms; never the results store.
"""

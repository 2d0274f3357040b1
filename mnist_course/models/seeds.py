"""The seeds the built-in course's models train on (a module of its own, so the step
modules need nothing from the package that collects them)."""

from __future__ import annotations

# Seeds the exploratory models of steps 1 and 2 train: three show run-to-run noise.
THREE_SEEDS = (0, 1, 2)
# The final model's seeds, and those of every model it is compared with: the step-2 model
# the ablation starts from, each step-3 change on the way to it, and the smaller networks
# (all but the depthwise model, whose two more seeds are still to be trained).
COURSE_SEEDS = (0, 1, 2, 3, 4)

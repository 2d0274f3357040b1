"""The ablation of the final model: each change step 3 made on the way to it, left out in turn.

The step-3 chain adds one change per model (rotation, the one-cycle schedule, dropout
removed, weight decay, batch-norm statistics recomputed): read forwards it is the cumulative
ablation from the step-2 model. Read backwards it cannot say what each change is worth in the
final model, since a change can matter only with the others, so each candidate here is the
final model with one change undone and everything else kept. The undoing is generated from
the chain: the recipe fields a chain model changed go back to its predecessor's values, and
if it changed the layers, the layers go back to its predecessor's. Every candidate runs on
the final model's seeds; the one that undoes the last change is the weight-decay model
itself (the same cache key), so its runs are copied from the course.
"""

from __future__ import annotations

import dataclasses
from itertools import pairwise

from mnist_course.course.definition import CourseModel
from mnist_course.course.sweep import Sweep, candidate
from mnist_course.models.seeds import COURSE_SEEDS
from mnist_course.models.step2_efficiency import CAPACITY
from mnist_course.models.step3_augmentation import (
    AUGMENT,
    FINAL,
    NO_DROPOUT,
    ONE_CYCLE,
    WEIGHT_DECAY_MODEL,
)

# The final model's chain from the step-2 model; for each change, the id of the candidate
# that leaves it out, and what is left out in words ("Leaving out ... lowers the mean").
CHAIN = (
    (CAPACITY, None, None),
    (AUGMENT, "final_no_rotation", "rotation (the training images as they are)"),
    (ONE_CYCLE, "final_constant_lr", "the one-cycle schedule (a constant learning rate)"),
    (NO_DROPOUT, "final_with_dropout",
     "dropout's removal (dropout kept after every hidden convolution)"),
    (WEIGHT_DECAY_MODEL, "final_no_weight_decay", "weight decay"),
    (FINAL, "final_running_stats",
     "recomputed batch-norm statistics (the running averages at test time)"),
)


def changed_fields(previous: CourseModel, model: CourseModel) -> dict[str, object]:
    """The recipe fields ``model`` changed, with the values ``previous`` had."""
    return {field.name: getattr(previous.recipe, field.name)
            for field in dataclasses.fields(previous.recipe)
            if getattr(previous.recipe, field.name) != getattr(model.recipe, field.name)}


def left_out(previous: CourseModel, model: CourseModel, id: str, words: str):
    """The final model with ``model``'s change (against ``previous``) undone."""
    layers = previous.architecture if model.architecture != previous.architecture else None
    return candidate(FINAL, id, words, architecture=layers, undoes=model.id,
                     **changed_fields(previous, model))


FINAL_ABLATION = Sweep(
    id="final_ablation",
    title="The final model with each change left out",
    goal=("What each of step 3's changes is worth in the final model: the final model with "
          "that one change undone, on the final model's seeds."),
    seed_order=COURSE_SEEDS,
    stop_at_first_failure=False,
    candidates=tuple(left_out(previous, model, id, words)
                     for (previous, _, _), (model, id, words) in pairwise(CHAIN)),
)

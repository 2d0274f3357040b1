"""A network's static checks: what is measured without data and without training.

The trainable parameters against the budget, any ``nn.Linear``, a (2, 1, 28, 28) batch
through ``forward`` and the shape that comes out, and the receptive field at the output
against the 28-pixel digit. ``mnist-course check`` prints them all;
:func:`check_before_training` runs them on every model of a course before a build trains
anything, and stops it in one line naming the first model that fails (nothing trains).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mnist_course.assignment import PARAM_BUDGET
from mnist_course.course.definition import CourseModel
from mnist_course.course.student_code import where_in_student_code
from mnist_course.errors import UsageError

IMAGE_SIZE = 28  # pixels: the receptive field at the output should cover the whole digit
BATCH = 2  # images in the test batch: a batch of 2 tells the batch axis from a class axis


@dataclass(frozen=True)
class Finding:
    passed: bool
    text: str  # one line: what was measured, and against what
    # False for a finding a build does not stop on (the receptive field is advice: the
    # assignment's requirements are the budget, no Linear layer, and (B, 10) scores).
    requirement: bool = True


def network_from(obj: Any, label: str):
    """(the nn.Module, the CourseModel if ``obj`` is one) for a class, a function that
    returns a network, or a CourseModel; a failure is one :class:`UsageError` line."""
    from torch import nn

    course_model = obj if isinstance(obj, CourseModel) else None
    factory = course_model.network if course_model else obj
    if isinstance(obj, nn.Module):
        raise UsageError(f"{label} is an nn.Module instance; name its class or a function "
                         "that returns a new one")
    if not callable(factory):
        raise UsageError(f"{label} is a {type(obj).__name__}; name an nn.Module class or a "
                         "function that returns one")
    try:
        network = factory()
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - the student's code: one line
        raise UsageError(f"{label}: building the network failed: "
                         f"{where_in_student_code(exc)}") from exc
    if not isinstance(network, nn.Module):
        raise UsageError(f"{label} returned a {type(network).__name__}, not an nn.Module")
    return network, course_model


def _output_finding(shape: tuple[int, ...] | None) -> Finding:
    expected = (BATCH, 10)
    text = f"output {shape} for a ({BATCH}, 1, 28, 28) batch"
    if shape == expected:
        return Finding(True, text)
    if shape is not None and len(shape) == 4 and shape[:2] == expected and shape[2:] == (1, 1):
        fix = "flatten it at the end of forward: return x.flatten(1)"
    else:
        fix = "end on a 1x1 map of 10 channels and flatten it: return x.flatten(1)"
    return Finding(False, f"{text}: it must be {expected}, one score per digit ({fix})")


def requirement_findings(network) -> list[Finding]:
    """The checks a build stops on: the budget, no Linear layer, a batch through
    ``forward`` giving (B, 10). The network is left in eval mode."""
    import torch

    from mnist_course.models.network import count_parameters, linear_layers

    params = count_parameters(network)
    findings = [Finding(params < PARAM_BUDGET,
                        f"{params:,} parameters: the assignment allows fewer than "
                        f"{PARAM_BUDGET:,}" + ("" if params < PARAM_BUDGET else
                                               " (narrow or remove layers)"))]
    linear = linear_layers(network)
    findings.append(Finding(not linear, "no fully connected layer" if not linear else
                            f"fully connected layer {', '.join(linear)} (nn.Linear): the "
                            "network must be fully convolutional (use a 1x1 convolution "
                            "after global average pooling)"))
    network.eval()
    try:
        with torch.no_grad():
            output = network(torch.zeros(BATCH, 1, IMAGE_SIZE, IMAGE_SIZE))
    except Exception as exc:  # noqa: BLE001 - the student's forward pass
        findings.append(Finding(False, f"a ({BATCH}, 1, 28, 28) batch does not go through: "
                                f"{where_in_student_code(exc)}"))
        return findings
    shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
    findings.append(_output_finding(shape))
    return findings


def static_findings(network) -> tuple[list[Finding], dict | None, Any]:
    """Every static check, plus the layer summary and the receptive-field trace (None
    where the network cannot be run)."""
    from mnist_course.architecture.layers import layer_summary
    from mnist_course.architecture.receptive_field import trace_receptive_field

    findings = requirement_findings(network)
    if findings[-1].text.startswith(f"a ({BATCH}, 1, 28, 28) batch does not go through"):
        return findings, None, None
    try:  # one image this time, traced: a forward that only takes batches of 2 fails here
        summary = layer_summary(network)
        trace = trace_receptive_field(network)
    except Exception as exc:  # noqa: BLE001 - the student's forward pass
        findings.append(Finding(False, "a (1, 1, 28, 28) batch (one image) does not go "
                                f"through: {where_in_student_code(exc)}"))
        return findings, None, None
    findings += [Finding(True, f"receptive field not followed through {line}", False)
                 for line in trace.unfollowed]
    if trace.final_rf is not None:
        final = trace.final_rf
        findings.append(Finding(final >= IMAGE_SIZE,
                                f"receptive field {final} pixels at the output"
                                + (f": it sees the whole {IMAGE_SIZE}-pixel digit"
                                   if final >= IMAGE_SIZE else
                                   f": smaller than the {IMAGE_SIZE}-pixel digit, so no "
                                   "output sees the whole image"), False))
    return findings, summary, trace


def check_before_training(models: list[CourseModel], course_file: str | None = None) -> None:
    """Run :func:`requirement_findings` on every model; if any fails, raise one
    :class:`UsageError` line naming the first such model, everything it fails and how to
    check it again, and the ids of the others that fail."""
    failures: dict[str, list[str]] = {}
    first: CourseModel | None = None
    for model in models:
        try:
            network, _ = network_from(model, model.id)
            texts = [f.text for f in requirement_findings(network) if not f.passed]
        except UsageError as exc:
            texts = [str(exc).removeprefix(f"{model.id}: ")
                     .removeprefix(f"course model {model.id}: ")]
        if texts:
            failures[model.id] = texts
            first = first or model
    if first is None:
        return
    name = getattr(first.build, "__name__", None)
    again = (f"; `mnist-course check {course_file}:{name}` checks it again"
             if course_file and name else "")
    others = sorted(set(failures) - {first.id})
    raise UsageError(f"model {first.id!r} fails a static check, so nothing was trained: "
                     + "; ".join(failures[first.id]) + again
                     + (f" (also failing: {', '.join(others)})" if others else ""))


__all__ = ["IMAGE_SIZE", "Finding", "check_before_training", "network_from",
           "requirement_findings", "static_findings"]

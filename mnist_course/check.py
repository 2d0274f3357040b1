"""``mnist-course check FILE.py:NAME``: a network against the assignment, in a second.

Static checks need no data and no training: the trainable parameters (the number the
budget is about), any ``nn.Linear``, the output for a (2, 1, 28, 28) batch, and the
receptive field at the output against the 28-pixel digit; the layer summary and the
receptive-field table are printed too. ``--train`` adds full training on MNIST and the
accuracy requirement on every seed. Exit status: 0 when every requirement checked passes,
1 when one fails (each failure on its own line), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .course import CourseModel, resolve_object, where_in_student_code
from .errors import UsageError
from .summary import ACCURACY_BAR, LAST_EPOCHS, PARAM_BUDGET

IMAGE_SIZE = 28  # pixels: the receptive field at the output should cover the whole digit


@dataclass(frozen=True)
class Finding:
    passed: bool
    text: str  # one line: what was measured, and against what


def network_from(obj: Any, label: str):
    """(the nn.Module, the CourseModel if NAME names one) for what NAME names."""
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


def static_findings(network) -> tuple[list[Finding], dict | None, list | None]:
    """The static requirements, plus the layer summary and receptive-field table (None
    where the network cannot be run or described)."""
    import torch
    from torch import nn

    from .layers import layer_summary
    from .receptive_field import receptive_field

    findings = []
    params = sum(p.numel() for p in network.parameters() if p.requires_grad)
    findings.append(Finding(params < PARAM_BUDGET,
                            f"{params:,} parameters: the assignment allows fewer than "
                            f"{PARAM_BUDGET:,}"))
    linear = [name for name, m in network.named_modules() if isinstance(m, nn.Linear)]
    findings.append(Finding(not linear, "no fully connected layer" if not linear else
                            f"fully connected layer {', '.join(linear)} (nn.Linear): the "
                            "network must be fully convolutional"))
    network.eval()
    try:
        with torch.no_grad():
            output = network(torch.zeros(2, 1, IMAGE_SIZE, IMAGE_SIZE))
    except Exception as exc:  # noqa: BLE001 - the student's forward pass
        findings.append(Finding(False, "a (2, 1, 28, 28) batch does not go through: "
                                f"{where_in_student_code(exc)}"))
        return findings, None, None
    shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
    findings.append(Finding(shape == (2, 10), f"output {shape} for a (2, 1, 28, 28) batch"
                            + ("" if shape == (2, 10) else ": it must be (2, 10), one score "
                               "per digit")))
    summary = layer_summary(network)
    try:
        field = receptive_field(network)
    except UsageError as exc:
        findings.append(Finding(True, f"receptive field not computed: {exc}"))
        return findings, summary, None
    final = field[-1]["rf_out"] if field else 1
    findings.append(Finding(final >= IMAGE_SIZE,
                            f"receptive field {final} pixels at the output"
                            + (f": it sees the whole {IMAGE_SIZE}-pixel digit"
                               if final >= IMAGE_SIZE else
                               f": smaller than the {IMAGE_SIZE}-pixel digit, so no output "
                               "sees the whole image")))
    return findings, summary, field


def print_tables(summary: dict | None, field: list | None) -> None:
    if summary:
        print("\nlayers (output shape without the batch, trainable parameters):")
        width = max(len(row["name"]) for row in summary["rows"]) if summary["rows"] else 4
        for row in summary["rows"]:
            shape = "x".join(map(str, row["output_shape"])) if row["output_shape"] else "-"
            print(f"  {row['name']:<{width}}  {row['kind']:<18} {shape:>10}  "
                  f"{row['params']:>6,}")
        print(f"  {'total':<{width}}  {'':<18} {'':>10}  {summary['total_params']:>6,}")
    if field:
        print("\nreceptive field (along the height):")
        print("  layer                    size     rf   jump  k/s/p")
        for row in field:
            print(f"  {row['name'][:22]:<22} {row['size_in']:>3}->{row['size_out']:<3} "
                  f"{row['rf_in']:>3}->{row['rf_out']:<3} {row['jump_in']:>2}->"
                  f"{row['jump_out']:<2} {row['kernel']}/{row['stride']}/{row['padding']}")


def _model_id(label: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", label.split(":")[-1])
    return name if re.match(r"[A-Za-z]", name) else f"m_{name}"


def training_findings(model: CourseModel, args: argparse.Namespace) -> list[Finding]:
    """Train on every seed and check the accuracy requirement of each run."""
    from .data import load_mnist
    from .summary import check_requirements
    from .train import pick_device, run_course_model

    recipe = model.recipe.with_epochs(args.epochs) if args.epochs else model.recipe
    results_dir = Path(args.results_dir or "check-results")
    device = pick_device(args.device)
    data = load_mnist(args.data_dir, device=device)
    print(f"\ntraining {model.id} on {len(args.seeds)} seed(s): {recipe.describe()}; runs in "
          f"{results_dir}/")
    findings = []
    for seed in args.seeds:
        record = run_course_model(model, data, results_dir, seed=seed, epochs=args.epochs)
        last = [e["test_accuracy"] for e in record["epochs"][-LAST_EPOCHS:]]
        accuracy = next(r for r in check_requirements(record) if "accuracy" in r.name)
        findings.append(Finding(accuracy.passed,
                                f"seed {seed}: last {LAST_EPOCHS} epochs "
                                f"{', '.join(f'{a:.2f}' for a in last)} % (lowest {min(last):.2f}"
                                f" %, the bar is {ACCURACY_BAR:.2f} %)"
                                + (" (a quick check with --epochs never passes)"
                                   if record["quick_check"] else "")))
    return findings


def cmd_check(args: argparse.Namespace) -> int:
    from .models import COURSE

    obj, label = resolve_object(args.target)
    network, course_model = network_from(obj, label)
    source = inspect.getsourcefile(type(network)) if not course_model else None
    print(f"{label}: {type(network).__name__}" + (f" from {Path(source).name}" if source else ""))
    findings, summary, field = static_findings(network)
    print_tables(summary, field)
    if args.train and all(f.passed for f in findings):
        # Without a CourseModel of its own, it trains with the course's final recipe.
        model = course_model or CourseModel(
            id=_model_id(label), step=1, title=label, target="", analysis="", build=obj,
            recipe=COURSE.get(COURSE.final).recipe)
        findings += training_findings(model, args)
    elif args.train:
        print("\nnot trained: fix the static failures first")
    print()
    for finding in findings:
        print(f"{'ok  ' if finding.passed else 'FAIL'}  {finding.text}")
    failures = [f for f in findings if not f.passed]
    print(f"\n{label}: " + ("every requirement checked passes" if not failures else
                           f"{len(failures)} requirement(s) fail"))
    return 1 if failures else 0


__all__ = ["Finding", "cmd_check", "static_findings"]

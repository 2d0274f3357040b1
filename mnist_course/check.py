"""``mnist-course check FILE.py:NAME``: a network against the assignment, in a second.

The static checks (:mod:`mnist_course.architecture.static_checks`, the ones a build runs before it
trains) need no data and no training: the trainable parameters (the number the budget is
about), any ``nn.Linear``, the output for a (2, 1, 28, 28) batch, and the receptive field
at the output against the 28-pixel digit; the layer summary and the receptive-field table
are printed too. ``--train`` adds full training on MNIST and the
accuracy requirement on every seed. Exit status: 0 when every requirement checked passes,
1 when one fails (each failure on its own line), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path
from typing import Any

from mnist_course.architecture.static_checks import Finding, network_from, static_findings
from mnist_course.assignment import ACCURACY_BAR, LAST_EPOCHS, last_accuracies
from mnist_course.course.definition import Course, CourseModel
from mnist_course.course.student_code import callable_name, import_file
from mnist_course.errors import UsageError


def resolve_object(target: str) -> tuple[Any, str]:
    """``FILE.py:NAME`` -> (the object NAME in that file, its label)."""
    file, sep, name = target.rpartition(":")
    if not sep or not file or not name:
        raise UsageError(f"expected FILE.py:NAME (a file and a class or function in it), "
                         f"got {target!r}")
    module = import_file(file)
    course = getattr(module, "COURSE", None)
    if not hasattr(module, name) and isinstance(course, Course) and name in course.ids():
        model = course.get(name)
        built = callable_name(model.build) if model.build is not None else None
        raise UsageError(f"{name!r} is a model id; give the class or function it is built "
                         f"from" + (f": {file}:{built}" if built else " (a name in the file)"))
    if not hasattr(module, name):
        found = sorted(n for n, v in vars(module).items()
                       if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
                       and getattr(v, "__module__", None) == module.__name__)
        raise UsageError(f"{file} has no {name!r}" + (f"; it defines {', '.join(found)}"
                                                        if found else ""))
    return getattr(module, name), f"{Path(file).name}:{name}"


def print_tables(summary: dict | None, trace) -> None:
    if summary:
        print("\nlayers (output shape without the batch, trainable parameters):")
        width = max([5] + [len(row["name"]) for row in summary["rows"]])
        kinds = max([18] + [len(row["kind"]) for row in summary["rows"]])
        for row in summary["rows"]:
            shape = "x".join(map(str, row["output_shape"])) if row["output_shape"] else "-"
            print(f"  {row['name']:<{width}}  {row['kind']:<{kinds}} {shape:>10}  "
                  f"{row['params']:>6,}")
        print(f"  {'total':<{width}}  {'':<{kinds}} {'':>10}  {summary['total_params']:>6,}")
    if trace and trace.rows:
        labels = [f"{row['name']} ({row['kind']})" for row in trace.rows]
        width = max(len("layer"), *map(len, labels))
        print("\nreceptive field (along the height):")
        print(f"  {'layer':<{width}}  size     rf       jump    k/s/p")
        for label, row in zip(labels, trace.rows, strict=True):
            print(f"  {label:<{width}}  {row['size_in']:>3}->{row['size_out']:<3} "
                  f"{row['rf_in']:>3}->{row['rf_out']:<4} {row['jump_in']:>2}->"
                  f"{row['jump_out']:<4} {row['kernel']}/{row['stride']}/{row['padding']}")


def _model_id(label: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", label.split(":")[-1])
    return name if re.match(r"[A-Za-z]", name) else f"m_{name}"


def training_findings(model: CourseModel, args: argparse.Namespace) -> list[Finding]:
    """Train on every seed and check the accuracy requirement of each run."""
    from mnist_course.summary import check_requirements
    from mnist_course.training.data import load_mnist
    from mnist_course.training.device import pick_device
    from mnist_course.training.train_model import run_course_model

    recipe = model.recipe.with_epochs(args.epochs) if args.epochs else model.recipe
    results_dir = Path(args.results_dir or "check-results")
    device = pick_device(args.device)
    data = load_mnist(args.data_dir, device=device)
    print(f"\ntraining {model.id} on {len(args.seeds)} seed(s): {recipe.describe()}; runs in "
          f"{results_dir}/")
    findings = []
    for seed in args.seeds:
        record = run_course_model(model, data, results_dir, seed=seed, epochs=args.epochs)
        last = last_accuracies(record)
        accuracy = next(r for r in check_requirements(record) if "accuracy" in r.name)
        findings.append(Finding(accuracy.passed,
                                f"seed {seed}: last {LAST_EPOCHS} epochs "
                                f"{', '.join(f'{a:.2f}' for a in last)} % (lowest {min(last):.2f}"
                                f" %, the bar is {ACCURACY_BAR:.2f} %)"
                                + (" (a quick check with --epochs never passes)"
                                   if record["quick_check"] else "")))
    return findings


def cmd_check(args: argparse.Namespace) -> int:
    from mnist_course.models import COURSE

    obj, label = resolve_object(args.target)
    network, course_model = network_from(obj, label)
    source = inspect.getsourcefile(type(network)) if not course_model else None
    print(f"{label}: {type(network).__name__}" + (f" from {Path(source).name}" if source else ""))
    findings, summary, trace = static_findings(network)
    print_tables(summary, trace)
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


__all__ = ["cmd_check"]

"""The ``mnist-course`` command (also ``python -m mnist_course``).

Every user mistake ends in one line on stderr and a non-zero exit code; ``--debug``
shows the traceback as well.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mnist_course.errors import CourseError, UsageError


def whole_number(minimum: int):
    """An argparse type: a whole number of at least ``minimum``, with a one-line complaint."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return parse


positive_int = whole_number(1)
non_negative_int = whole_number(0)


class OneLineParser(argparse.ArgumentParser):
    """argparse prints the whole usage block on a bad value; we print one line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="mnist-course",
        description="Train and inspect the models of the MNIST course (99.4 % with fewer "
                    "than 8,000 parameters, in three steps).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    listing = commands.add_parser("list", help="list every course model: id, step, parameters",
                                  description="List the models of a course: id, step, "
                                              "trainable parameters and title.")
    add_course_option(listing)

    train = commands.add_parser(
        "train", help="train one course model and write its metrics.json",
        description="Train one course model on MNIST and write "
                    "<results-dir>/<model>/seed-<n>/metrics.json and weights.pt. A killed "
                    "run resumes from its last finished epoch when started again.")
    train.add_argument("model_id", help="a model id from `mnist-course list`")
    add_course_option(train)
    train.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    train.add_argument("--epochs", type=positive_int, default=None,
                       help="override the recipe's epochs (a quick check, marked as such)")
    train.add_argument("--train-subset", type=positive_int, default=None, metavar="N",
                       help="train on N images only (a quick check, marked as such)")
    train.add_argument("--data-dir", default=None,
                       help="folder holding MNIST/raw/ (default: $MNIST_COURSE_DATA or ./data)")
    train.add_argument("--results-dir", default=None,
                       help="where results go (default: $MNIST_COURSE_RESULTS or ./results)")
    train.add_argument("--device", default="auto",
                       help="cpu, cuda or auto (default: CUDA when available)")
    train.add_argument("--threads", type=positive_int, default=None,
                       help="CPU threads for torch (default: all cores)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")

    build = commands.add_parser(
        "build", help="train a course, then write its site and WRITEUP.md into --out",
        description="Do for a course what scripts/build_report.py does for the built-in "
                    "one: train every run that is missing or stale (a run is reused while "
                    "its model's code, recipe and seed are unchanged), then write "
                    "OUT/results/ (the runs), OUT/docs/ and OUT/mkdocs.yml (a complete "
                    "MkDocs site: mkdocs serve -f OUT/mkdocs.yml) and OUT/WRITEUP.md (one "
                    "Markdown file with its figures in OUT/WRITEUP_files/, for a Git "
                    "hosting page).",
        epilog="Examples: mnist-course build --course my_course.py --out report --epochs 1 "
               "--train-subset 2000 (a quick preview in a minute); mnist-course build "
               "--course my_course.py --out report (the real runs).")
    add_course_option(build)
    build.add_argument("--out", required=True, metavar="DIR",
                       help="the project folder to write (created if missing)")
    add_build_options(build)
    build.add_argument("--epochs", type=positive_int, default=None,
                       help="a quick preview: every run trains this many epochs (kept in "
                            "OUT/results-preview/, marked as a preview on every page)")
    build.add_argument("--train-subset", type=positive_int, default=None, metavar="N",
                       help="a quick preview: every run trains on N images")

    check = commands.add_parser(
        "check", help="check a network against the assignment, without training",
        description="Instant checks of an nn.Module class or zero-argument function in a "
                    "file, named by its Python name (NAME in FILE.py:NAME is a class or "
                    "function defined in the file, such as SmallNet; not a model id): "
                    "trainable parameters (fewer than 8,000), no nn.Linear, output "
                    "of shape (2, 10) for a (2, 1, 28, 28) batch, and the receptive field "
                    "at the output against the 28-pixel digit; prints the layer summary "
                    "and the receptive-field table. Exit 0 when every check passes, 1 when "
                    "one fails, 2 for a usage error (no such file or name, an error in "
                    "the file).",
        epilog="Example: mnist-course check my_course.py:SmallNet --train --seeds 0,1,2")
    check.add_argument("target", metavar="FILE.py:NAME",
                       help="a file and the name of an nn.Module class (or of a function "
                            "returning one) defined in it, e.g. course.py:WithBatchNorm; "
                            "NAME is a Python name in the file, not a model id")
    check.add_argument("--train", action="store_true",
                       help="also train it on full MNIST (the course's final recipe, or the "
                            "recipe of the CourseModel NAME names) and check the accuracy "
                            "requirement on every seed")
    check.add_argument("--seeds", type=_seeds, default=(0,), metavar="0,1,2,3,4",
                       help="seeds for --train (default 0)")
    check.add_argument("--epochs", type=positive_int, default=None,
                       help="with --train: a quick check of this many epochs")
    check.add_argument("--data-dir", default=None,
                       help="folder holding MNIST/raw/ (default: $MNIST_COURSE_DATA or ./data)")
    check.add_argument("--results-dir", default=None,
                       help="where --train keeps its runs (default: ./check-results)")
    check.add_argument("--device", default="auto",
                       help="cpu, cuda or auto (default: CUDA when available)")

    new = commands.add_parser(
        "new", help="write a starter course (three steps, one model each) into a folder",
        description="Write DIR/course.py (a course of three steps with one small nn.Module "
                    "model each, with example Target and Analysis templates) and "
                    "DIR/README.md. It builds as it is: mnist-course build --course "
                    "DIR/course.py --out DIR/report")
    new.add_argument("dir", metavar="DIR", help="the folder to write (must not hold a course.py)")
    return parser


def add_course_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", default=None, metavar="PATH",
                        help="a Python file (or package folder) defining COURSE = "
                             "mc.Course(...) (default: the built-in course)")


def _seeds(text: str) -> tuple[int, ...]:
    from mnist_course.pipeline.options import parse_seeds

    try:
        return parse_seeds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_build_options(parser: argparse.ArgumentParser) -> None:
    """The options every build takes (the built-in course's and a student's); their dest
    names are the fields of :class:`mnist_course.pipeline.options.BuildOptions`."""
    parser.add_argument("--only", nargs="+", metavar="MODEL_ID", default=None,
                        help="train only these models (the pages still show every model)")
    parser.add_argument("--retrain", action="store_true",
                        help="retrain the selected runs even when their stored run is current")
    parser.add_argument("--no-train", action="store_true",
                        help="never train or measure; render from what exists (missing runs are "
                             "shown as 'not trained yet', stale ones as stale)")
    parser.add_argument("--seeds", type=_seeds, default=None, metavar="0,1,2",
                        help="seeds for the models that train on several (default: each "
                             "model's own); a model with one seed keeps it")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding MNIST/raw/ (default: $MNIST_COURSE_DATA or ./data); "
                             "read only when something needs training")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda or auto (default: CUDA when available)")
    parser.add_argument("--jobs", type=positive_int, default=None,
                        help="trainings run side by side, each in its own process on one CPU "
                             "thread (default: one per CPU core on the CPU, 1 on a GPU); a "
                             "fixed thread count keeps every run's numbers the same however "
                             "many run at once")


def build_options(args: argparse.Namespace):
    """The :class:`~mnist_course.pipeline.options.BuildOptions` a parsed build command line asks for
    (options a parser does not define keep their defaults)."""
    from dataclasses import fields

    from mnist_course.pipeline.options import BuildOptions

    given = vars(args)
    return BuildOptions(**{f.name: given[f.name] for f in fields(BuildOptions)
                           if f.name in given})


def cmd_list(args: argparse.Namespace) -> int:
    from mnist_course.course.loading import load_course
    from mnist_course.models.network import count_parameters

    course = load_course(args.course)
    width = max(len(m.id) for m in course)
    for model in course:
        params = count_parameters(model.network())
        print(f"{model.id:<{width}}  step {model.step}  {params:>6,} params  {model.title}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from mnist_course.course.loading import load_course
    from mnist_course.store.files import resolve_results_dir
    from mnist_course.training.data import load_mnist
    from mnist_course.training.device import pick_device
    from mnist_course.training.train_model import run_course_model

    model = load_course(args.course).get(args.model_id)  # fails fast, before loading data
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    data = load_mnist(args.data_dir, device=device).subset(args.train_subset, seed=args.seed)
    results_dir = resolve_results_dir(args.results_dir)
    record = run_course_model(model, data, results_dir, seed=args.seed, epochs=args.epochs,
                              progress=not args.no_progress,
                              on_epoch=lambda r: print(
                                  f"{model.id} seed {args.seed} epoch {r['epoch']:>2}: "
                                  f"train {r['train_accuracy']:.2f} %  "
                                  f"test {r['test_accuracy']:.2f} %  ({r['seconds']:.1f} s)",
                                  flush=True))
    last = record["epochs"][-1]
    print(f"wrote {results_dir / model.id / f'seed-{args.seed}' / 'metrics.json'}: "
          f"test accuracy {last['test_accuracy']:.2f} % after {last['epoch']} epochs, "
          f"{record['provenance']['training_seconds']:.0f} s")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from mnist_course.course.loading import load_course
    from mnist_course.pipeline.builder import build_course, project_paths

    options = build_options(args)
    command = "mnist-course build" + (f" --course {args.course}" if args.course else "") + \
        f" --out {args.out}"
    course = load_course(args.course, build_command=command)
    return build_course(course, project_paths(args.out, args.course, options.preview),
                        options)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return cmd_list(args)
        if args.command == "train":
            return cmd_train(args)
        if args.command == "build":
            return cmd_build(args)
        if args.command == "check":
            from mnist_course.check import cmd_check

            return cmd_check(args)
        if args.command == "new":
            from mnist_course.pipeline.starter import write_starter

            return write_starter(args.dir)
        raise UsageError(f"unknown command {args.command!r}")
    except CourseError as exc:
        if args.debug:
            raise
        print(f"mnist-course: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    except KeyboardInterrupt:
        print("mnist-course: interrupted; finished epochs are checkpointed, run the same "
              "command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

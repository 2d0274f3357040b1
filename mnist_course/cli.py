"""The ``mnist-course`` command (also ``python -m mnist_course``).

Every user mistake ends in one line on stderr and a non-zero exit code; ``--debug``
shows the traceback as well.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import CourseError, UsageError


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
        description="Train and inspect the models of the MNIST course (99.4 %% with fewer "
                    "than 8,000 parameters, in three steps).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    commands.add_parser("list", help="list every course model: id, step, parameters")

    train = commands.add_parser(
        "train", help="train one course model and write its metrics.json",
        description="Train one course model on MNIST and write "
                    "<results-dir>/<model>/seed-<n>/metrics.json and weights.pt. A killed "
                    "run resumes from its last finished epoch when started again.")
    train.add_argument("model_id", help="a model id from `mnist-course list`")
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
    return parser


def cmd_list() -> int:
    from .models import COURSE

    width = max(len(m.id) for m in COURSE)
    for model in COURSE:
        params = sum(p.numel() for p in model.build().parameters() if p.requires_grad)
        print(f"{model.id:<{width}}  step {model.step}  {params:>6,} params  {model.title}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from .data import load_mnist
    from .models import get_model
    from .results import resolve_results_dir
    from .train import pick_device, run_course_model

    model = get_model(args.model_id)  # fails fast on an unknown id, before loading data
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "train":
            return cmd_train(args)
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

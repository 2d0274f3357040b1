"""Retrain one stored course run into a temporary folder and compare it with the stored one.

    python scripts/reproduce_run.py s3_tiny 3          # about as long as the run took
    python scripts/reproduce_run.py s1_lighter 1 --results-dir results

A CPU run is reproducible bit for bit on the same kind of CPU, with the same torch and the
same thread count: this script trains with the stored run's thread count on its device
kind, says first whether this machine matches the stored provenance, then compares every
epoch record field by field (all but ``seconds``), the LR trace, the final evaluation and
the stored weights (byte for byte, and tensor by tensor when the bytes differ). Exit 0 when
everything matches, 1 when anything differs, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

from mnist_course.store.runs import NOT_RECORDED

REPO = Path(__file__).resolve().parent.parent


def compare_records(stored: dict, again: dict) -> list[str]:
    """Every difference between two runs' records that is not a timing, in words."""
    problems = []
    if len(stored["epochs"]) != len(again["epochs"]):
        problems.append(f"{len(stored['epochs'])} stored epochs, {len(again['epochs'])} now")
    for old, new in zip(stored["epochs"], again["epochs"], strict=False):
        for name in sorted(set(old) | set(new)):
            if name != "seconds" and old.get(name) != new.get(name):
                problems.append(f"epoch {old['epoch']} {name}: stored {old.get(name)!r}, "
                                f"now {new.get(name)!r}")
    for name in ("lr_trace", "evaluation", "params", "cache_key", "architecture"):
        if stored.get(name) != again.get(name):
            problems.append(f"{name} differs")
    # Recipe fields added after a run was stored are absent from its record; compared as
    # the cache key sees them, a recipe that trains the same is the same.
    from mnist_course.course.recipe import Recipe, recipe_identity

    if (recipe_identity(Recipe.from_dict(stored["recipe"]))
            != recipe_identity(Recipe.from_dict(again["recipe"]))):
        problems.append("recipe differs")
    return problems


def compare_weights(stored: Path, again: Path) -> tuple[bool, list[str]]:
    """(bytes identical, differences between the tensors)."""
    import torch

    if stored.read_bytes() == again.read_bytes():
        return True, []
    old = torch.load(io.BytesIO(stored.read_bytes()), weights_only=True)
    new = torch.load(io.BytesIO(again.read_bytes()), weights_only=True)
    problems = [f"tensor {name} differs" for name in sorted(set(old) | set(new))
                if name not in old or name not in new or not torch.equal(old[name], new[name])]
    return False, problems


def machine_verdict(stored: dict, name: str, here: object) -> str:
    """Whether the stored run's provenance field ``name`` matches this machine's: "same",
    "DIFFERENT", or, for a field the stored run does not record (the vector capability of
    runs stored before it was recorded), that it cannot say: a same-named CPU may compute
    with other instructions."""
    if name not in stored:
        return (f"{NOT_RECORDED} in the stored run: cannot say whether this machine computes "
                "as it did (a difference may come from here)")
    return "same" if stored[name] == here else "DIFFERENT (expect other numbers)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_id")
    parser.add_argument("seed", type=int)
    parser.add_argument("--results-dir", default=str(REPO / "results"))
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    import torch

    from mnist_course.errors import CourseError
    from mnist_course.models import get_model
    from mnist_course.store.files import load_metrics, metrics_path, weights_path
    from mnist_course.training.data import load_mnist
    from mnist_course.training.device import compute_provenance, device_name, pick_device
    from mnist_course.training.train_model import run_course_model

    try:
        model = get_model(args.model_id)
        stored = load_metrics(metrics_path(Path(args.results_dir), model.id, args.seed))
    except CourseError as exc:
        print(f"reproduce_run.py: error: {exc}", file=sys.stderr)
        return 2
    was = stored["provenance"]
    device = pick_device(was["device"])
    torch.set_num_threads(int(was["threads"]))
    here = {"device_name": device_name(device), **compute_provenance(device),
            "torch": torch.__version__, "threads": torch.get_num_threads()}
    for name, value in here.items():
        print(f"{name:<16} stored {was.get(name, NOT_RECORDED)!r:<36} here {value!r}: "
              f"{machine_verdict(was, name, value)}")
    data = load_mnist(args.data_dir, device=device)
    with tempfile.TemporaryDirectory(prefix=f"reproduce-{model.id}-") as folder:
        again = run_course_model(model, data, Path(folder), seed=args.seed, progress=False)
        problems = compare_records(stored, again)
        identical, tensor_problems = compare_weights(
            weights_path(Path(args.results_dir), model.id, args.seed),
            weights_path(Path(folder), model.id, args.seed))
    epochs = len(again["epochs"])
    print(f"epochs: {epochs} retrained; every field but seconds "
          + ("identical" if not [p for p in problems if p.startswith("epoch")] else "DIFFERS"))
    print("lr_trace, evaluation, params, cache_key, recipe, architecture: "
          + ("identical" if not [p for p in problems if not p.startswith("epoch")]
             else "DIFFER"))
    if identical:
        print("weights.pt: byte-identical")
    else:
        print("weights.pt: bytes differ; tensors "
              + ("identical (only torch.save's metadata differs)" if not tensor_problems
                 else "DIFFER"))
    for problem in problems + tensor_problems:
        print(f"  {problem}")
    print(f"training took {again['provenance']['training_seconds']:.0f} s here, "
          f"{was.get('training_seconds', 0):.0f} s when stored")
    return 1 if problems or tensor_problems else 0


if __name__ == "__main__":
    sys.exit(main())

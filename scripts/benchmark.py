"""Side-by-side speed benchmark: the loop students usually write vs mnist_course's engine.

Both train the final course model with the course recipe on the same number of images, on
the same machine, each in its own subprocess (so peak memory is measured per variant):

* students' loop: ``torchvision.datasets.MNIST`` + ``transforms.Compose([RandomRotation(7),
  ToTensor(), Normalize(...)])``, a ``DataLoader`` (batch 128, shuffle, 2 workers), the eager
  model in the default memory format, a test pass every epoch;
* mnist_course: the whole dataset as one tensor on the device, batched on-device
  augmentation, channels_last, ``mnist_course.fit``;
* two mnist_course runs at once with one thread each, the way ``build_report.py`` trains
  the course (small convolutions use a second thread poorly, a second run well).

Printed side by side: training and evaluation images per second, seconds per epoch (train +
test), the ratio, the training step's achieved GFLOP/s (FLOPs counted with
``torch.utils.flop_counter``) and its fraction of the machine's measured matmul peak, and peak
resident memory. ``--quick`` uses a 6,000-image subset and finishes in under a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

MODEL_ID = "s3_final"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="6,000 training images, one epoch: under a minute")
    parser.add_argument("--train-images", type=int, default=None,
                        help="training images per epoch (default: all 60,000; --quick: 6,000)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per variant (default 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: all cores)")
    parser.add_argument("--data-dir", default=None,
                        help="folder with MNIST/raw/ (default: $MNIST_COURSE_DATA or ./data)")
    parser.add_argument("--variant", choices=("students", "engine"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def training_flops_per_image() -> float:
    """Forward + backward FLOPs of one training image of the final model (batch of 128)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mnist_course.models import get_model

    model = get_model(MODEL_ID).network()
    x = torch.randn(128, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return counter.get_total_flops() / 128


def matmul_peak_gflops(seconds: float = 1.5) -> float:
    """The machine's practical fp32 peak: a large matmul's achieved GFLOP/s."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.mm(a, b)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        count += 1
    return 2 * 2048**3 * count / (time.perf_counter() - start) / 1e9


def peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # DataLoader workers
    return (own + children) / 1024  # ru_maxrss is in KiB on Linux


def run_students(args) -> dict:
    """The loop most students write: PIL transforms per image, a DataLoader, eager NCHW."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    from mnist_course.models import get_model
    from mnist_course.training.data import MNIST_MEAN, MNIST_STD
    from mnist_course.training.engine import make_optimizer, make_scheduler
    from mnist_course.training.mnist_files import resolve_data_dir

    root = str(resolve_data_dir(args.data_dir))
    normalize = transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))
    train_set = datasets.MNIST(root, train=True, download=True, transform=transforms.Compose(
        [transforms.RandomRotation(7), transforms.ToTensor(), normalize]))
    test_set = datasets.MNIST(root, train=False, transform=transforms.Compose(
        [transforms.ToTensor(), normalize]))
    if args.train_images < len(train_set):
        train_set = Subset(train_set, range(args.train_images))
    train_loader = DataLoader(train_set, batch_size=128, shuffle=True, num_workers=2)
    test_loader = DataLoader(test_set, batch_size=1000, num_workers=2)
    course = get_model(MODEL_ID)
    torch.manual_seed(0)
    model = course.network()
    optimizer = make_optimizer(model, course.recipe)
    scheduler = make_scheduler(optimizer, course.recipe, len(train_loader))
    train_seconds = test_seconds = 0.0
    for _ in range(args.epochs):
        start = time.perf_counter()
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
        train_seconds += time.perf_counter() - start
        start = time.perf_counter()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += (model(x).argmax(1) == y).sum().item()
        test_seconds += time.perf_counter() - start
    return {"train_seconds": train_seconds, "test_seconds": test_seconds,
            "test_accuracy": 100.0 * correct / len(test_set)}


def run_engine(args) -> dict:
    """mnist_course.fit with the course recipe; timing from its per-epoch records."""
    import torch

    from mnist_course.models import get_model
    from mnist_course.training.data import load_mnist
    from mnist_course.training.engine import evaluate, fit

    data = load_mnist(args.data_dir).subset(args.train_images, seed=0)
    course = get_model(MODEL_ID)
    torch.manual_seed(0)
    model = course.network()
    recipe = course.recipe.with_epochs(args.epochs)
    records, _ = fit(model, recipe, data, seed=0, progress=False)
    model.to(memory_format=torch.channels_last)
    start = time.perf_counter()
    evaluate(model, data.test_images, data.test_labels, channels_last=True)
    test_seconds = time.perf_counter() - start
    epoch_seconds = sum(r["seconds"] for r in records)
    return {"train_seconds": epoch_seconds - test_seconds * args.epochs,
            "test_seconds": test_seconds * args.epochs,
            "test_accuracy": records[-1]["test_accuracy"]}


def run_variant(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_students(args) if args.variant == "students" else run_engine(args)
    result["peak_rss_mib"] = peak_rss_mib()
    result["threads"] = torch.get_num_threads()
    print(json.dumps(result))


def start_variant(args, variant: str, threads: int | None) -> subprocess.Popen:
    command = [sys.executable, __file__, "--variant", variant, "--epochs", str(args.epochs),
               "--train-images", str(args.train_images)]
    if threads:
        command += ["--threads", str(threads)]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def collect(process: subprocess.Popen, variant: str) -> dict:
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        sys.exit(f"benchmark: the {variant} variant failed: "
                 f"{(stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(stdout.strip().splitlines()[-1])


def measure(args, variant: str) -> dict:
    result = collect(start_variant(args, variant, args.threads), variant)
    return {**result, "runs": 1,
            "epoch_seconds": result["train_seconds"] + result["test_seconds"]}


def measure_side_by_side(args) -> dict:
    """Two engine runs at once, one thread each, as ``build_report.py`` trains the course.
    Seconds are the slower run's; ``runs`` turns them into the pair's summed images/s."""
    runs = [start_variant(args, "engine", 1) for _ in range(2)]
    first, second = (collect(run, "engine") for run in runs)
    return {"runs": 2,
            "train_seconds": max(first["train_seconds"], second["train_seconds"]),
            "test_seconds": max(first["test_seconds"], second["test_seconds"]),
            "epoch_seconds": max(first["train_seconds"] + first["test_seconds"],
                                 second["train_seconds"] + second["test_seconds"]),
            "peak_rss_mib": first["peak_rss_mib"] + second["peak_rss_mib"],
            "test_accuracy": first["test_accuracy"], "threads": 1}


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.train_images is None:
        args.train_images = 6000 if args.quick else 60000
    if args.variant:
        run_variant(args)
        return
    import torch

    from mnist_course.training.device import device_name

    if args.threads:
        torch.set_num_threads(args.threads)
    flops = training_flops_per_image()
    peak = matmul_peak_gflops()
    results = {name: measure(args, name) for name in ("students", "engine")}
    results["pair"] = measure_side_by_side(args)
    test_images = 10000 * args.epochs
    train_images = args.train_images * args.epochs

    def training_rate(r: dict) -> float:  # images/s, summed over runs trained side by side
        return r["runs"] * train_images / r["train_seconds"]

    rows = [
        ("training images/s", training_rate, "{:,.0f}"),
        ("evaluation images/s", lambda r: r["runs"] * test_images / r["test_seconds"],
         "{:,.0f}"),
        ("seconds per epoch (train + test)", lambda r: r["epoch_seconds"] / args.epochs,
         "{:.1f}"),
        ("training GFLOP/s", lambda r: flops * training_rate(r) / 1e9, "{:.1f}"),
        ("share of matmul peak", lambda r: flops * training_rate(r) / 1e9 / peak, "{:.1%}"),
        ("peak resident memory (MiB)", lambda r: r["peak_rss_mib"], "{:,.0f}"),
        ("test accuracy after the run (%)", lambda r: r["test_accuracy"], "{:.2f}"),
    ]
    cpu = device_name(torch.device("cpu"))
    print(f"machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{results['engine']['threads']} threads")
    print(f"model: {MODEL_ID}, {flops / 1e6:.1f} MFLOP per training image (forward + backward); "
          f"{train_images:,} training images, {args.epochs} epoch(s); matmul peak "
          f"{peak:.0f} GFLOP/s")
    print("columns: the students' loop; mnist_course (one run, all threads); ratio; "
          "two mnist_course runs at once, one thread each (per-run epoch time, summed "
          "images/s and memory); ratio")
    print(f"{'':34} {'students loop':>14} {'mnist_course':>14} {'ratio':>8} "
          f"{'2 runs x 1 thr':>15} {'ratio':>8}")
    for label, metric, fmt in rows:
        base = metric(results["students"])
        cells = [f"{label:34} {fmt.format(base):>14}"]
        for name, width in (("engine", 14), ("pair", 15)):
            value = metric(results[name])
            ratio = value / base if label != "seconds per epoch (train + test)" else base / value
            shown = f"{ratio:.2f}x" if "accuracy" not in label and "memory" not in label else ""
            cells.append(f"{fmt.format(value):>{width}} {shown:>8}")
        print(" ".join(cells))


if __name__ == "__main__":
    main()

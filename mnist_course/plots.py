"""The site's figures, drawn only from metrics.json records (dicts): no torch, no retraining.

Line charts are SVG, image grids PNG. Every figure is rendered into memory and written
atomically, and only when its bytes changed: with nothing changed, regenerating gives
byte-identical files (fixed SVG hash salt, no dates or software versions embedded).

Figures are built on :class:`matplotlib.figure.Figure` directly, never through pyplot:
no backend is switched (a notebook importing this module keeps its inline plots), and
no global figure registry keeps figures alive after they are saved.
"""

from __future__ import annotations

import base64
import io
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .results import atomic_write_bytes
from .summary import ACCURACY_BAR, LAST_EPOCHS, PARAM_BUDGET, summarize

# SVG element ids are hashes salted with this: a fixed salt gives the same ids every run.
HASH_SALT = "mnist-course"
matplotlib.rcParams["svg.hashsalt"] = HASH_SALT

# One colour per course step, on every figure (Okabe-Ito: readable for colour-blind eyes).
STEP_COLOURS = {1: "#0072B2", 2: "#E69F00", 3: "#009E73"}
OTHER_COLOUR = "#555555"  # a model whose step is unknown
TRAIN_COLOUR = "#E69F00"
TEST_COLOUR = "#0072B2"
BAR_COLOUR = "#D55E00"  # the 99.40 % bar
BUDGET_COLOUR = "#444444"  # the 8,000-parameter budget
SEED_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
STEP_LINESTYLES = ("-", "--", ":", "-.")  # tells the models of one step apart

# Accuracy axes show this much by default; lower points widen it, never below the floor.
ACCURACY_ZOOM = 97.0  # percent
ACCURACY_FLOOR = 90.0  # percent

STYLE = {
    "svg.hashsalt": HASH_SALT,
    "svg.fonttype": "path",  # glyphs as paths: the page looks the same without the font
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 9,
    "legend.framealpha": 0.9,
}
PNG_DPI = 100


# ---------------------------------------------------------------------------- helpers

def complete_runs(records: Iterable[dict]) -> list[dict]:
    """The records that can be drawn: status complete, with at least one epoch."""
    return [r for r in records if r.get("status") == "complete" and r.get("epochs")]


def _save(figure: Figure, path: Path) -> Path:
    """Render ``figure`` (format from the suffix) and write it atomically if it changed."""
    buffer = io.BytesIO()
    fmt = path.suffix.lstrip(".")
    # No date or software version in the file: unchanged input gives unchanged bytes.
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format=fmt, dpi=PNG_DPI, metadata=metadata)
    payload = buffer.getvalue()
    if not (path.exists() and path.read_bytes() == payload):  # keep mtimes of unchanged files
        atomic_write_bytes(path, payload)
    return path


def _new_figure(width: float, height: float, rows: int = 1, cols: int = 1):
    """A figure in the course style (rc settings apply when axes are made, hence here)."""
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(width, height), layout="constrained")
        axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def _accuracy_limits(values: Sequence[float], zoom: float = ACCURACY_ZOOM) -> tuple[float, bool]:
    """Lower limit of an accuracy axis, and whether some points fall below it.

    The axis starts at ``zoom`` so the last tenths of a percent around the bar are
    readable; when later points dip lower it widens to whole percents, down to
    :data:`ACCURACY_FLOOR`. First-epoch points are the usual ones cut off.
    """
    low = min(values, default=zoom)
    lower = zoom if low >= zoom else max(ACCURACY_FLOOR, float(math.floor(low)))
    return lower, low < lower


def _accuracy_axis(ax, lower: float, clipped: bool, title: str) -> None:
    """Zoom an accuracy axis to ``lower``..100 %, and say so in the title when it cuts."""
    ax.set_ylim(lower, 100.05)
    ax.set_ylabel("accuracy (%)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    note = f"\n(axis from {lower:g} %: lower points are off the chart)" if clipped else ""
    ax.set_title(title + note)


def _bar_line(ax) -> None:
    ax.axhline(ACCURACY_BAR, color=BAR_COLOUR, linestyle="--", linewidth=1.2,
               label=f"bar: {ACCURACY_BAR:.2f} %", zorder=1)


def _epoch_axis(ax) -> None:
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _column(record: dict, key: str) -> list[float]:
    return [epoch[key] for epoch in record["epochs"]]


def _epochs(record: dict) -> list[int]:
    return [epoch["epoch"] for epoch in record["epochs"]]


def _heading(record: dict) -> str:
    title = record.get("title")
    return f"{record['model_id']} — {title}" if title else record["model_id"]


# ------------------------------------------------------------------ one model's figures

def curves_figure(record: dict, path: Path) -> Path:
    """Loss and accuracy per epoch, train against test, the bar on the accuracy panel."""
    figure, axes = _new_figure(10, 4, cols=2)
    ax_loss, ax_accuracy = axes[0]
    epochs = _epochs(record)
    for ax, key in ((ax_loss, "loss"), (ax_accuracy, "accuracy")):
        ax.plot(epochs, _column(record, f"train_{key}"), "o-", markersize=3,
                color=TRAIN_COLOUR, label="train")
        ax.plot(epochs, _column(record, f"test_{key}"), "o-", markersize=3,
                color=TEST_COLOUR, label="test")
        _epoch_axis(ax)
    ax_loss.set_yscale("log")  # the test loss ends far below the first train loss
    ax_loss.set_ylabel("cross-entropy loss (log scale)")
    ax_loss.set_title("Loss")
    # Zoom on what the bar is about: test accuracy after epoch 1, and the second half of
    # training accuracy (its first epochs, augmented, would stretch the axis for nothing).
    train, test = _column(record, "train_accuracy"), _column(record, "test_accuracy")
    lower, clipped = _accuracy_limits(test[1:] + train[len(train) // 2:])
    _bar_line(ax_accuracy)
    _accuracy_axis(ax_accuracy, lower, clipped or min(train + test) < lower, "Accuracy")
    for ax in (ax_loss, ax_accuracy):
        ax.legend(loc="upper right" if ax is ax_loss else "lower right")
    figure.suptitle(f"{_heading(record)} (seed {record['seed']})")
    return _save(figure, path)


def lr_figure(record: dict, path: Path) -> Path:
    """The learning rate through training, from ``lr_trace`` (per-epoch ``lr`` without it)."""
    trace = record.get("lr_trace") or [[epoch["epoch"] - 1, epoch["lr"]]
                                       for epoch in record["epochs"]]
    figure, axes = _new_figure(8, 3.2)
    ax = axes[0][0]
    x = [point[0] for point in trace]
    y = [point[1] for point in trace]
    ax.plot(x, y, color=STEP_COLOURS.get(record.get("step"), OTHER_COLOUR), linewidth=1.8)
    ax.set_xlim(0, max(len(record["epochs"]), max(x, default=0)))
    ax.set_ylim(0, max(y, default=0) * 1.1 or 1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    schedule = (record.get("recipe") or {}).get("schedule")
    ax.set_title(f"Learning rate — {record['model_id']}"
                 + (f" ({schedule} schedule)" if schedule else ""))
    return _save(figure, path)


def _decode_pixels(encoded: str) -> np.ndarray | None:
    """A 28x28 uint8 image from its base64 text; None when it is not 784 bytes."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, TypeError):
        return None
    return np.frombuffer(raw, dtype=np.uint8).reshape(28, 28) if len(raw) == 784 else None


def misclassified_figure(record: dict, path: Path, columns: int = 8) -> Path | None:
    """The stored misclassified test images, each captioned true → predicted (confidence)."""
    evaluation = record.get("evaluation") or {}
    images = [(item, _decode_pixels(item.get("pixels", "")))
              for item in evaluation.get("misclassified") or []]
    images = [(item, pixels) for item, pixels in images if pixels is not None]
    if not images:
        return None
    rows = math.ceil(len(images) / columns)
    figure, axes = _new_figure(9, 1.3 * rows + 0.5, rows=rows, cols=columns)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (item, pixels) in zip(axes.flat, images, strict=False):
        ax.imshow(pixels, cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"{item['label']} → {item['predicted']} ({item['confidence']:.0%})",
                     fontsize=9)
    errors = _error_count(evaluation)
    shown = f"{len(images)} most confident of {errors:,} errors" if errors else \
        f"{len(images)} most confident errors"
    figure.suptitle(f"Misclassified test digits — {record['model_id']}, seed {record['seed']} "
                    f"({shown}; caption: true → predicted (confidence))", fontsize=10)
    return _save(figure, path)


def _error_count(evaluation: dict) -> int | None:
    matrix = evaluation.get("confusion_matrix")
    if not matrix:
        return None
    return sum(map(sum, matrix)) - sum(matrix[i][i] for i in range(len(matrix)))


def confusion_figure(record: dict, path: Path) -> Path | None:
    """The 10x10 confusion matrix with counts; errors on a log colour scale, so a single
    mistake is visible next to the thousand correct ones on the diagonal."""
    matrix = np.array((record.get("evaluation") or {}).get("confusion_matrix") or [])
    if matrix.shape != (10, 10):
        return None
    diagonal = np.eye(10, dtype=bool)
    errors = np.where(diagonal, 0, matrix)
    figure, axes = _new_figure(7.5, 6.2)
    ax = axes[0][0]
    ax.grid(False)
    worst = int(errors.max())
    norm = LogNorm(vmin=1, vmax=max(worst, 2))
    image = ax.imshow(np.ma.masked_where(errors == 0, errors), cmap="Reds", norm=norm)
    ax.imshow(np.ma.masked_where(~diagonal, matrix), cmap=ListedColormap(["#DCE9F5"]))
    for true in range(10):
        for predicted in range(10):
            count = int(matrix[true, predicted])
            dark = not diagonal[true, predicted] and count and norm(count) > 0.6
            colour = "white" if dark else ("#BBBBBB" if count == 0 else "black")
            ax.text(predicted, true, str(count), ha="center", va="center", fontsize=8,
                    color=colour, fontweight="bold" if diagonal[true, predicted] else None)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.tick_params(length=0)
    bar = figure.colorbar(image, ax=ax, label="misclassified images (log scale)", shrink=0.85)
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= norm.vmax]
    bar.set_ticks(ticks, labels=[str(t) for t in ticks])
    bar.minorticks_off()
    total = int(matrix.sum())
    ax.set_title(f"Confusion matrix — {record['model_id']}, seed {record['seed']}: "
                 f"{int(errors.sum()):,} errors in {total:,} test images\n"
                 "(diagonal: correct, in blue; off the diagonal: errors, in red)", fontsize=10)
    return _save(figure, path)


def model_figures(records: list[dict], out_dir: Path) -> dict[str, Path]:
    """The figures of one model from its runs (seed 0 first); returns key -> written file.

    Keys: ``curves`` and ``lr`` (SVG), ``misclassified`` (PNG) and ``confusion`` (SVG),
    drawn from the first complete run. Failed runs are skipped; a figure whose data is
    missing (no complete run, no evaluation) is left out of the result.
    """
    runs = complete_runs(records)
    if not runs:
        return {}
    record = runs[0]
    out_dir = Path(out_dir)
    figures = {
        "curves": curves_figure(record, out_dir / "curves.svg"),
        "lr": lr_figure(record, out_dir / "lr.svg"),
        "misclassified": misclassified_figure(record, out_dir / "misclassified.png"),
        "confusion": confusion_figure(record, out_dir / "confusion.svg"),
    }
    return {key: path for key, path in figures.items() if path is not None}


# ------------------------------------------------------------------- course figures

def _step_of(model_id: str, runs: list[dict], steps: dict[str, int]) -> int | None:
    return steps.get(model_id, runs[0].get("step"))


def _step_label(step: int | None) -> str:
    from .models import STEPS  # torch-free: the course definitions are data

    return f"step {step}: {STEPS[step]}" if step in STEPS else "other"


def _place_labels(ax, points: list[tuple[float, float, str]], height: float = 13.0
                  ) -> list[tuple[float, float]]:
    """Offsets (in points) for labels right of each point, nudged apart vertically so
    models with the same parameter count do not print over each other."""
    figure_dpi = ax.figure.dpi
    placed: list[tuple[float, float, float]] = []  # x, y, width of placed labels (points)
    offsets = []
    for x, y, text in points:
        px, py = ax.transData.transform((x, y)) * 72.0 / figure_dpi
        width = 5.2 * len(text)
        dy = 0.0
        for _ in range(40):
            clash = [p for p in placed if abs(p[0] - px) < max(width, p[2]) + 6
                     and abs(p[1] - (py + dy)) < height]
            if not clash:
                break
            dy = max(p[1] for p in clash) + height - py
        placed.append((px, py + dy, width))
        offsets.append((6.0, dy))
    return offsets


def params_vs_accuracy_figure(runs_by_model: dict[str, list[dict]], steps: dict[str, int],
                              path: Path) -> Path | None:
    """Parameters against last-5-epoch mean test accuracy, one point per model."""
    points = []
    for model_id, runs in runs_by_model.items():
        means = [summarize(run).last5_mean for run in runs]
        points.append((runs[0]["params"], statistics.fmean(means), min(means), max(means),
                       model_id, _step_of(model_id, runs, steps)))
    if not points:
        return None
    figure, axes = _new_figure(9.5, 5.5)
    ax = axes[0][0]
    xs = [p[0] for p in points]
    ys = [p[2] for p in points] + [ACCURACY_BAR]
    x_low, x_high = min(min(xs), PARAM_BUDGET), max(max(xs), PARAM_BUDGET)
    pad = 0.08 * (x_high - x_low or x_high)
    ax.set_xlim(x_low - pad, x_high + 2.2 * pad)  # room for the labels on the right
    y_low, y_high = min(ys), max([p[3] for p in points] + [ACCURACY_BAR])
    y_pad = 0.15 * (y_high - y_low or 0.5)
    ax.set_ylim(y_low - y_pad, y_high + y_pad)
    # The corner that solves the assignment: under budget and above the bar.
    ax.fill_between([ax.get_xlim()[0], PARAM_BUDGET], ACCURACY_BAR, ax.get_ylim()[1],
                    color=STEP_COLOURS[3], alpha=0.08, linewidth=0,
                    label="under budget and above the bar")
    ax.axvline(PARAM_BUDGET, color=BUDGET_COLOUR, linestyle=":", linewidth=1.2,
               label=f"budget: {PARAM_BUDGET:,} parameters")
    _bar_line(ax)
    shown_steps = set()
    for params, mean, low, high, _, step in sorted(points, key=lambda p: (p[5] or 0)):
        colour = STEP_COLOURS.get(step, OTHER_COLOUR)
        label = None if step in shown_steps else _step_label(step)
        shown_steps.add(step)
        ax.errorbar(params, mean, yerr=[[mean - low], [high - mean]] if high > low else None,
                    fmt="o", color=colour, markersize=7, capsize=3, label=label, zorder=3)
    figure.draw_without_rendering()  # settle the layout: labels are placed in page units
    ordered = sorted(points, key=lambda p: (p[1], p[0]))
    offsets = _place_labels(ax, [(p[0], p[1], p[4]) for p in ordered])
    for point, (dx, dy) in zip(ordered, offsets, strict=True):
        ax.annotate(point[4], (point[0], point[1]), xytext=(dx, dy), textcoords="offset points",
                    va="center", fontsize=8, color="#222222",
                    arrowprops={"arrowstyle": "-", "color": "#999999", "linewidth": 0.6}
                    if dy else None)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel(f"test accuracy, mean of the last {LAST_EPOCHS} epochs (%)")
    ax.set_title("Parameters against accuracy, every model of the course "
                 "(bars: range over seeds)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2)
    return _save(figure, path)


def accuracy_all_figure(runs_by_model: dict[str, list[dict]], steps: dict[str, int],
                             path: Path) -> Path | None:
    """Test accuracy per epoch of every model (first seed), coloured by step."""
    if not runs_by_model:
        return None
    figure, axes = _new_figure(10, 5.5)
    ax = axes[0][0]
    used_per_step: dict[int | None, int] = {}
    later: list[float] = []
    first: list[float] = []
    for model_id, runs in runs_by_model.items():
        step = _step_of(model_id, runs, steps)
        index = used_per_step.get(step, 0)
        used_per_step[step] = index + 1
        accuracy = _column(runs[0], "test_accuracy")
        later += accuracy[1:]
        first += accuracy[:1]
        ax.plot(_epochs(runs[0]), accuracy, color=STEP_COLOURS.get(step, OTHER_COLOUR),
                linestyle=STEP_LINESTYLES[index % len(STEP_LINESTYLES)], linewidth=1.6,
                label=f"{model_id} (step {step})" if step else model_id)
    lower, clipped = _accuracy_limits(later)
    _bar_line(ax)
    _accuracy_axis(ax, lower, clipped or min(first) < lower,
                   "Test accuracy per epoch, every model (first seed)")
    _epoch_axis(ax)
    ax.set_ylabel("test accuracy (%)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return _save(figure, path)


def final_seeds_figure(runs: list[dict], path: Path) -> Path | None:
    """The final model's test accuracy per epoch for every seed, last epochs shaded."""
    if not runs:
        return None
    figure, axes = _new_figure(9, 4.5)
    ax = axes[0][0]
    epochs = max(len(run["epochs"]) for run in runs)
    ax.axvspan(epochs - LAST_EPOCHS + 0.5, epochs + 0.5, color="#999999", alpha=0.15,
               linewidth=0, label=f"last {LAST_EPOCHS} epochs")
    later: list[float] = []
    for index, run in enumerate(sorted(runs, key=lambda r: r["seed"])):
        accuracy = _column(run, "test_accuracy")
        later += accuracy[2:]
        ax.plot(_epochs(run), accuracy, "o-", markersize=3, linewidth=1.4,
                color=SEED_COLOURS[index % len(SEED_COLOURS)], label=f"seed {run['seed']}")
    _bar_line(ax)
    # Tighter than the other charts: this one is about the last tenths of a percent.
    lower, clipped = _accuracy_limits(later, zoom=98.5)
    everything = [a for run in runs for a in _column(run, "test_accuracy")]
    worst = min(summarize(run).last5_min for run in runs)
    _accuracy_axis(ax, lower, clipped or min(everything) < lower,
                   f"{runs[0]['model_id']}: test accuracy of {len(runs)} seeds "
                   f"(lowest of the last {LAST_EPOCHS} epochs: {worst:.2f} %)")
    _epoch_axis(ax)
    ax.set_xlim(0.5, epochs + 0.5)
    ax.set_ylabel("test accuracy (%)")
    # Top left stays empty: early epochs sit low, the late ones are in the shaded window.
    ax.legend(loc="upper left", ncols=4)
    return _save(figure, path)


def course_figures(records_by_model: dict[str, list[dict]], steps: dict[str, int],
                   final_id: str, out_dir: Path) -> dict[str, Path]:
    """The figures comparing models; returns key -> written file.

    ``records_by_model`` maps model id to its runs (in course order), ``steps`` model id
    to step. Keys: ``params_vs_accuracy``, ``test_accuracy_all`` and ``final_seeds``
    (SVG). Failed runs are skipped; a figure with nothing to draw is left out.
    """
    runs_by_model = {model_id: complete_runs(records)
                     for model_id, records in records_by_model.items()}
    runs_by_model = {model_id: runs for model_id, runs in runs_by_model.items() if runs}
    out_dir = Path(out_dir)
    figures = {
        "params_vs_accuracy": params_vs_accuracy_figure(
            runs_by_model, steps, out_dir / "params_vs_accuracy.svg"),
        "test_accuracy_all": accuracy_all_figure(
            runs_by_model, steps, out_dir / "test_accuracy_all.svg"),
        "final_seeds": final_seeds_figure(runs_by_model.get(final_id, []),
                                          out_dir / "final_seeds.svg"),
    }
    return {key: path for key, path in figures.items() if path is not None}


__all__ = ["STEP_COLOURS", "complete_runs", "course_figures", "model_figures"]

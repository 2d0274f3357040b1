"""The site's figures, drawn only from metrics.json records (dicts): no torch, no retraining.

Line charts are SVG, image grids PNG. Every figure is rendered into memory and written
atomically, and only when its bytes changed: with nothing changed, regenerating gives
byte-identical files (fixed SVG hash salt, no dates or software versions embedded).

Figures are built on :class:`matplotlib.figure.Figure` directly, never through pyplot:
no backend is switched (a notebook importing this module keeps its inline plots), and
no global figure registry keeps figures alive after they are saved.
``draw_model_figures`` and ``draw_course_figures`` return the figures unsaved (the tests
read their text sizes and colours); ``model_figures`` and ``course_figures`` write them.

Every figure is drawn for a phone first: narrow, with panels stacked rather than side by
side, no panel holding more than :data:`MAX_SERIES` lines, and text large enough that, shrunk
to a phone's content column, none of it is smaller than :data:`MIN_TEXT_PX` (see
:func:`displayed_px`). On a laptop the same file shows at its natural size.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import statistics
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from matplotlib.transforms import ScaledTranslation

from mnist_course.assignment import (
    ACCURACY_BAR,
    LAST_EPOCHS,
    PARAM_BUDGET,
    last_epoch_numbers,
    last_window,
    lowest_over_seeds,
    mean_last,
    meets_all,
)
from mnist_course.store.files import atomic_write_bytes

# SVG element ids are hashes salted with this: a fixed salt gives the same ids every run.
HASH_SALT = "mnist-course"
matplotlib.rcParams["svg.hashsalt"] = HASH_SALT

# Series colours (Okabe-Ito, readable for colour-blind eyes, then a wine red): the lines of
# one chart take them in order. Black is kept out of every series: it is the bar's colour.
SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#882255")
# A second cue besides the colour, one per line; past the seven colours the lines are dashed,
# so no two lines share a colour, a marker and a dash.
SERIES_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "*")
SERIES_DASHES = ("-", "--", ":")
# More lines than this in one panel cannot be told apart on a phone: the models of a step
# are split over several panels of at most this many.
MAX_SERIES = 6
# One colour per course step, on every figure.
# Okabe-Ito colours, told apart by colour-blind readers; 4: a section after the three steps.
STEP_COLOURS = {1: "#0072B2", 2: "#E69F00", 3: "#009E73", 4: "#CC79A7"}
OTHER_COLOUR = "#555555"  # a model whose step is unknown
TRAIN_COLOUR = "#E69F00"
TEST_COLOUR = "#0072B2"
BAR_COLOUR = "#000000"  # the 99.40 % bar, dashed: no series is black
BUDGET_COLOUR = "#444444"  # the 8,000-parameter budget, a dotted vertical line

# Accuracy axes show this much by default; lower points widen it, never below the floor.
ACCURACY_ZOOM = 97.0  # percent
ACCURACY_FLOOR = 90.0  # percent

# Text size on the page. An image wider than its column is shrunk to fit, and its text with
# it. On a phone 390 CSS px wide Material's content column is 358 px, and 332 px inside a
# collapsible block (where the digits and the confusion matrix sit); on a laptop it is 688 px
# (measured in Chromium). Figures are drawn 480 px wide: on a laptop they show at their
# natural size, where a point is 96 / 72 CSS px (10 pt is 13.3 px); on the phone's narrowest
# column they shrink to 332 px, and 10 pt text is still 9.2 px there.
PHONE_COLUMN_PX = 332
CSS_PX_PER_INCH = 96  # an SVG is sized in points: 72 pt = 1 inch = 96 CSS px
MIN_TEXT_PX = 9.0
FIGURE_WIDTH = 5.0  # inches: 480 CSS px as SVG
PNG_DPI = 96  # image pixels per inch of a PNG figure: at this DPI it shows as its SVG would
SMALL_TEXT = 10  # points: legends, annotations, the counts in the confusion matrix
TITLE_CHARACTERS = 52  # a title line this long fits the figure's width at its size

STYLE = {
    "svg.hashsalt": HASH_SALT,
    "svg.fonttype": "path",  # glyphs as paths: the page looks the same without the font
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": SMALL_TEXT,
    "legend.framealpha": 0.9,
}


def displayed_px(font_pt: float, figure_width_in: float,
                 pixels_per_inch: float = CSS_PX_PER_INCH) -> float:
    """The height in CSS px of ``font_pt`` text in a figure ``figure_width_in`` wide, once
    a phone shows it in its narrowest content column (:data:`PHONE_COLUMN_PX`).

    The figure's natural width is ``figure_width_in * pixels_per_inch`` CSS px (96 for an
    SVG, whose size is in points; the DPI for a PNG, one image pixel per CSS px); a wider
    figure is shrunk to the column and its text with it, a narrower one is not enlarged.
    """
    natural = figure_width_in * pixels_per_inch
    return font_pt / 72 * pixels_per_inch * min(1.0, PHONE_COLUMN_PX / natural)


# ---------------------------------------------------------------------------- helpers

def complete_runs(records: Iterable[dict]) -> list[dict]:
    """The records that can be drawn: status complete, with at least one epoch."""
    return [r for r in records if r.get("status") == "complete" and r.get("epochs")]


def save_figure(figure: Figure, path: Path) -> Path:
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


def _save_all(figures: dict[str, Figure | None], out_dir: Path) -> dict[str, Path]:
    """Write each drawn figure to ``out_dir`` under its file name; skip those not drawn."""
    return {key: save_figure(figure, Path(out_dir) / FILE_NAMES[key])
            for key, figure in figures.items() if figure is not None}


def in_style(draw):
    """Run a drawing function under :data:`STYLE`. Matplotlib reads rc settings when it
    makes each artist (a label set after the axes, ticks made when new ones are set), so
    the style must hold for the whole drawing, not only while the axes are made."""
    @functools.wraps(draw)
    def styled(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)
    return styled


def new_figure(height: float, rows: int = 1, cols: int = 1, width: float = FIGURE_WIDTH,
                **subplots):
    """A figure :data:`FIGURE_WIDTH` wide by default, with a grid of axes."""
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots(rows, cols, squeeze=False, **subplots)


def _accuracy_limits(values: Sequence[float], zoom: float = ACCURACY_ZOOM) -> tuple[float, bool]:
    """Lower limit of an accuracy axis, and whether some points fall below it.

    The axis starts at ``zoom`` so the last tenths of a percent around the bar are
    readable; when later points dip lower it widens to whole percents, down to
    :data:`ACCURACY_FLOOR`. First-epoch points are the usual ones cut off.
    """
    low = min(values, default=zoom)
    lower = zoom if low >= zoom else max(ACCURACY_FLOOR, float(math.floor(low)))
    return lower, low < lower


def _clipped_note(lower: float) -> str:
    return f"(axis from {lower:g} %: lower points are off the chart)"


def _accuracy_scale(ax, lower: float) -> None:
    ax.set_ylim(lower, 100.05)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _accuracy_axis(ax, lower: float, clipped: bool, title: str) -> None:
    """Zoom an accuracy axis to ``lower``..100 %, and say so in the title when it cuts."""
    _accuracy_scale(ax, lower)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title + ("\n" + _clipped_note(lower) if clipped else ""))


def _bar_line(ax, label: bool = True) -> None:
    ax.axhline(ACCURACY_BAR, color=BAR_COLOUR, linestyle="--", linewidth=1.2,
               label=f"bar: {ACCURACY_BAR:.2f} %" if label else None, zorder=1)


def _epoch_axis(ax) -> None:
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _log_axis(axis, low: float, high: float) -> None:
    """A log-scale axis labelled in plain decimals (0.001, not 10^-3): decades, with 2 and 5
    between them when the data spans less than two decades."""
    subs = (1.0,) if high >= 100 * low else (1.0, 2.0, 5.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def wrap_title(text: str, width: int = TITLE_CHARACTERS) -> str:
    """``text`` broken into lines of at most ``width`` characters (its own line breaks kept),
    so a long title stays inside a narrow figure instead of running off its edges."""
    return "\n".join(textwrap.fill(line, width, break_long_words=False) or line
                     for line in text.split("\n"))


def _column(record: dict, key: str) -> list[float]:
    return [epoch[key] for epoch in record["epochs"]]


def _epochs(record: dict) -> list[int]:
    return [epoch["epoch"] for epoch in record["epochs"]]


def _heading(record: dict) -> str:
    title = record.get("title")
    return f"{record['model_id']} — {title}" if title else record["model_id"]


# ------------------------------------------------------------------ one model's figures

@in_style
def curves_figure(record: dict) -> Figure:
    """Loss and accuracy per epoch, train against test, the bar on the accuracy panel; the
    panels one above the other, each as wide as the figure."""
    figure, axes = new_figure(6.4, rows=2)
    ax_loss, ax_accuracy = axes[:, 0]
    epochs = _epochs(record)
    for ax, key in ((ax_loss, "loss"), (ax_accuracy, "accuracy")):
        ax.plot(epochs, _column(record, f"train_{key}"), "o-", markersize=3,
                color=TRAIN_COLOUR, label="train")
        ax.plot(epochs, _column(record, f"test_{key}"), "s-", markersize=3,
                color=TEST_COLOUR, label="test")
        _epoch_axis(ax)
    losses = _column(record, "train_loss") + _column(record, "test_loss")
    ax_loss.set_yscale("log")  # the test loss ends far below the first train loss
    _log_axis(ax_loss.yaxis, min(losses), max(losses))
    ax_loss.set_ylabel("loss (log scale)")
    ax_loss.set_title("Loss")
    # Zoom on what the bar is about: test accuracy after epoch 1, and the second half of
    # training accuracy (its first epochs, augmented, would stretch the axis for nothing).
    train, test = _column(record, "train_accuracy"), _column(record, "test_accuracy")
    lower, clipped = _accuracy_limits(test[1:] + train[len(train) // 2:])
    _bar_line(ax_accuracy)
    _accuracy_axis(ax_accuracy, lower, False, "Accuracy")
    for ax in (ax_loss, ax_accuracy):
        ax.legend(loc="upper right" if ax is ax_loss else "lower right")
    # The clipping note is as wide as the figure, not as one panel: it goes under the title.
    note = f"\naccuracy {_clipped_note(lower)}" if clipped or min(train + test) < lower else ""
    figure.suptitle(wrap_title(f"{_heading(record)} (seed {record['seed']}){note}"))
    return figure


def _lr_points(record: dict) -> tuple[list[float], list[float]]:
    """(epoch, learning rate) pairs from ``lr_trace``, or per epoch without one."""
    trace = record.get("lr_trace") or [[epoch["epoch"] - 1, epoch["lr"]]
                                       for epoch in record["epochs"]]
    return [point[0] for point in trace], [point[1] for point in trace]


def is_constant_rate(record: dict) -> bool:
    """True when the run's learning rate never changed: its page says so in a sentence
    instead of a plot of a flat line."""
    rates = _lr_points(record)[1]
    return not rates or max(rates) - min(rates) <= 1e-12 * max(rates)


@in_style
def lr_figure(record: dict) -> Figure:
    """The learning rate through training on a log axis (schedules span decades)."""
    x, y = _lr_points(record)
    figure, axes = new_figure(2.8)
    ax = axes[0][0]
    ax.plot(x, y, color=STEP_COLOURS.get(record.get("step"), OTHER_COLOUR), linewidth=1.8)
    ax.set_xlim(0, max(len(record["epochs"]), max(x)))
    ax.set_yscale("log")
    ax.set_ylim(min(y) / 1.6, max(y) * 1.6)
    _log_axis(ax.yaxis, min(y), max(y))
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate (log scale)")
    schedule = (record.get("recipe") or {}).get("schedule")
    ax.set_title(wrap_title(f"Learning rate — {record['model_id']}"
                            + (f" ({schedule} schedule)" if schedule else "")))
    return figure


def _decode_pixels(encoded: str) -> np.ndarray | None:
    """A 28x28 uint8 image from its base64 text; None when it is not 784 bytes."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, TypeError):
        return None
    return np.frombuffer(raw, dtype=np.uint8).reshape(28, 28) if len(raw) == 784 else None


@in_style
def misclassified_figure(record: dict, columns: int = 4) -> Figure | None:
    """The stored misclassified test images, each captioned true → predicted (confidence)."""
    evaluation = record.get("evaluation") or {}
    images = [(item, _decode_pixels(item.get("pixels", "")))
              for item in evaluation.get("misclassified") or []]
    images = [(item, pixels) for item, pixels in images if pixels is not None]
    if not images:
        return None
    rows = math.ceil(len(images) / columns)
    figure, axes = new_figure(1.35 * rows + 1.0, rows=rows, cols=columns)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (item, pixels) in zip(axes.flat, images, strict=False):
        ax.imshow(pixels, cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"{item['label']} → {item['predicted']} ({item['confidence']:.0%})",
                     fontsize=SMALL_TEXT)
    errors = _error_count(evaluation)
    shown = f"the {len(images)} most confident of {errors:,} errors" if errors else \
        f"the {len(images)} most confident errors"
    figure.suptitle(wrap_title(f"Misclassified test digits — {record['model_id']}, seed "
                               f"{record['seed']}\n{shown}\ncaption: true → predicted "
                               "(confidence)"))
    return figure


def _error_count(evaluation: dict) -> int | None:
    matrix = evaluation.get("confusion_matrix")
    if not matrix:
        return None
    return sum(map(sum, matrix)) - sum(matrix[i][i] for i in range(len(matrix)))


def colour_bar_ticks(top: int) -> list[int]:
    """Ticks of a log colour bar from 1 to ``top``: 1, 2, 3, 5, 10, 20, 50, 100, ... below
    it, and ``top`` itself so the end of the bar is labelled. A tick within a factor of 1.3
    of ``top`` is dropped: on a log bar the two labels would overlap."""
    candidates, scale = [1, 2, 3, 5], 10
    while candidates[-1] < top:
        candidates += [scale, 2 * scale, 5 * scale]
        scale *= 10
    return [t for t in candidates if t * 1.3 <= top] + [top]


@in_style
def confusion_figure(record: dict) -> Figure | None:
    """The 10x10 confusion matrix with counts; errors on a log colour scale, so a single
    mistake is visible next to the thousand correct ones on the diagonal."""
    matrix = np.array((record.get("evaluation") or {}).get("confusion_matrix") or [])
    if matrix.shape != (10, 10):
        return None
    diagonal = np.eye(10, dtype=bool)
    errors = np.where(diagonal, 0, matrix)
    figure, axes = new_figure(6.6)
    ax = axes[0][0]
    ax.grid(False)
    top = max(int(errors.max()), 2)
    norm = LogNorm(vmin=1, vmax=top)
    image = ax.imshow(np.ma.masked_where(errors == 0, errors), cmap="Reds", norm=norm)
    ax.imshow(np.ma.masked_where(~diagonal, matrix), cmap=ListedColormap(["#DCE9F5"]))
    for true in range(10):
        for predicted in range(10):
            count = int(matrix[true, predicted])
            dark = not diagonal[true, predicted] and count and norm(count) > 0.6
            colour = "white" if dark else ("#999999" if count == 0 else "black")
            ax.text(predicted, true, str(count), ha="center", va="center", fontsize=SMALL_TEXT,
                    color=colour, fontweight="bold" if diagonal[true, predicted] else None)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.tick_params(length=0)
    # Below the matrix, not beside it: on a narrow figure every column of counts needs the room.
    bar = figure.colorbar(image, ax=ax, label="misclassified images (log scale)", shrink=0.8,
                          location="bottom", aspect=30)
    ticks = colour_bar_ticks(top)
    bar.set_ticks(ticks, labels=[str(t) for t in ticks])
    bar.minorticks_off()
    total = int(matrix.sum())
    figure.suptitle(wrap_title(f"Confusion matrix — {record['model_id']}, seed {record['seed']}: "
                               f"{int(errors.sum()):,} errors in {total:,} test images\n"
                               "(diagonal: correct, in blue; off the diagonal: errors, in red)"))
    return figure


def draw_model_figures(records: list[dict]) -> dict[str, Figure]:
    """The figures of one model from its runs (seed 0 first), drawn from the first
    complete run: ``curves``, ``lr`` (not for a constant learning rate), ``misclassified``
    and ``confusion`` (not when the run has no evaluation). Failed runs are skipped."""
    runs = complete_runs(records)
    if not runs:
        return {}
    record = runs[0]
    figures = {
        "curves": curves_figure(record),
        "lr": None if is_constant_rate(record) else lr_figure(record),
        "misclassified": misclassified_figure(record),
        "confusion": confusion_figure(record),
    }
    return {key: figure for key, figure in figures.items() if figure is not None}


def model_figures(records: list[dict], out_dir: Path) -> dict[str, Path]:
    """Write the figures of :func:`draw_model_figures` to ``out_dir``; returns key ->
    written file (``curves``, ``lr`` and ``confusion`` SVG, ``misclassified`` PNG)."""
    return _save_all(draw_model_figures(records), out_dir)


# ------------------------------------------------------------------- course figures

def _step_of(model_id: str, runs: list[dict], steps: dict[str, int]) -> int | None:
    return steps.get(model_id, runs[0].get("step"))


def _step_label(step: int | None, step_headings: dict[int, str]) -> str:
    """A step as the pages head it ("Step 2: Make it efficient"), "other" if unknown."""
    return step_headings.get(step, "other")


DODGE_PT = 7.0  # how far apart side by side markers of one parameter count are, in points


def dodge_shifts(params: Sequence[int]) -> list[float]:
    """A sideways shift in points for each point, so that models with the same parameter
    count (the course's 7,770-parameter models) sit side by side instead of on top of each
    other: the last on its count, the others to its left, so that none of them crosses the
    budget line it is under; a count held by one model stays where it is."""
    shared = {count: [i for i, other in enumerate(params) if other == count]
              for count in set(params)}
    return [-DODGE_PT * (len(shared[count]) - 1 - shared[count].index(i))
            for i, count in enumerate(params)]


def _shifted(ax, shift_pt: float):
    """The axes' data coordinates moved ``shift_pt`` points sideways."""
    return ax.transData + ScaledTranslation(shift_pt / 72, 0, ax.figure.dpi_scale_trans)


def _place_labels(ax, points: list[tuple[float, float, float, float, str, float]],
                  fontsize: float = SMALL_TEXT) -> list[tuple[float, float, str]]:
    """Where to print each point's label: (dx, dy, alignment), the offset in points from the
    point (x, mean, low, high, text, its sideways shift in points) and "left" when the label
    starts there, "right" when it ends there. The nearest free place inside the axes comes
    first, right of the point, then left of it, nudged up or down, so that no label prints
    over another label, another model's marker or its error bar."""
    height = 1.4 * fontsize  # a line of text, in points
    scale = 72.0 / ax.figure.dpi
    frame = ax.get_window_extent()
    inside = (frame.x0 * scale, frame.x1 * scale, frame.y0 * scale, frame.y1 * scale)

    def box(x: float, y: float, shift: float) -> tuple[float, float]:
        px, py = ax.transData.transform((x, y)) * scale
        return px + shift, py

    def overlaps(a: tuple, b: tuple) -> bool:
        return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]

    # Every marker with its error bar, as boxes (x0, x1, y0, y1) in points.
    obstacles = []
    for x, _, low, high, _, shift in points:
        px, p_low = box(x, low, shift)
        _, p_high = box(x, high, shift)
        obstacles.append((px - 5, px + 5, p_low - 5, p_high + 5))
    placed: list[tuple[float, float, float, float]] = []
    offsets = []
    for x, y, _, _, text, shift in points:
        px, py = box(x, y, shift)
        width = 0.6 * fontsize * len(text)
        candidates = []
        for step in range(60):
            dy = height * (step + 1) // 2 * (1 if step % 2 else -1) if step else 0.0
            for dx, align in ((6.0, "left"), (-6.0, "right")):
                x0 = px + dx if align == "left" else px + dx - width
                candidates.append(((x0, x0 + width, py + dy - height / 2,
                                    py + dy + height / 2), (dx, dy, align)))
        fits = [c for c in candidates if inside[0] <= c[0][0] and c[0][1] <= inside[1]
                and inside[2] <= c[0][2] and c[0][3] <= inside[3]] or candidates
        label, offset = next((c for c in fits
                              if not any(overlaps(c[0], o) for o in placed + obstacles)),
                             fits[0])
        placed.append(label)
        offsets.append(offset)
    return offsets


def _params_panel(ax, points: list[tuple], labelled: set[str], step_names: dict[int, str],
                  legend: bool, meets: dict[str, bool]) -> None:
    """One panel of parameters against accuracy: the points (params, mean, low, high, id,
    step, shift), filled where the model meets the assignment (``meets``: id -> bool) and
    hollow where it does not, the budget and the bar, and a label for each point whose id
    is in ``labelled``."""
    xs = [p[0] for p in points]
    ys = [p[2] for p in points] + [ACCURACY_BAR]
    x_low, x_high = min(min(xs), PARAM_BUDGET), max(max(xs), PARAM_BUDGET)
    pad = 0.08 * (x_high - x_low or x_high)
    ax.set_xlim(x_low - pad, x_high + 2.6 * pad)  # room for the labels on the right
    y_low, y_high = min(ys), max([p[3] for p in points] + [ACCURACY_BAR])
    y_pad = 0.15 * (y_high - y_low or 0.5)
    ax.set_ylim(y_low - y_pad, y_high + y_pad)
    # No shaded "solved" corner: a mean above the bar does not meet it (a seed's single
    # epoch below it fails the model), so the markers say which models meet it.
    ax.axvline(PARAM_BUDGET, color=BUDGET_COLOUR, linestyle=":", linewidth=1.2,
               label=f"budget: {PARAM_BUDGET:,} parameters" if legend else None)
    _bar_line(ax, label=legend)
    shown_steps = set()
    for params, mean, low, high, model_id, step, shift in sorted(points,
                                                                 key=lambda p: (p[5] or 0)):
        colour = STEP_COLOURS.get(step, OTHER_COLOUR)
        label = None if step in shown_steps or not legend else _step_label(step, step_names)
        shown_steps.add(step)
        ax.errorbar(params, mean, yerr=[[mean - low], [high - mean]] if high > low else None,
                    fmt="o", color=colour, markersize=6, capsize=3, zorder=3,
                    markerfacecolor=colour if meets[model_id] else "white",
                    transform=_shifted(ax, shift))
        if label:  # the step's colour in the legend, whichever fill its first model has
            ax.plot([], [], "o", color=colour, markersize=6, label=label)
    if legend:
        ax.plot([], [], "o", color="#444444", label="filled: meets every requirement on "
                "every seed")
        ax.plot([], [], "o", color="#444444", markerfacecolor="white",
                label="hollow: misses on some seed")
    ax.figure.draw_without_rendering()  # settle the layout: labels are placed in page units
    ordered = sorted(points, key=lambda p: (p[1], p[0]))
    offsets = _place_labels(ax, [(p[0], p[1], p[2], p[3], p[4], p[6]) for p in ordered])
    for point, (dx, dy, align) in zip(ordered, offsets, strict=True):
        if point[4] not in labelled:
            continue
        ax.annotate(point[4], (point[0], point[1]), xycoords=_shifted(ax, point[6]),
                    xytext=(dx, dy), textcoords="offset points", ha=align,
                    va="center", fontsize=SMALL_TEXT, color="#222222",
                    bbox={"boxstyle": "square,pad=0.05", "facecolor": "white",
                          "edgecolor": "none", "alpha": 0.8},  # lines beneath stay behind
                    arrowprops={"arrowstyle": "-", "color": "#999999", "linewidth": 0.6}
                    if dy else None)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel(f"mean of the last {LAST_EPOCHS} epochs (%)")


@in_style
def params_vs_accuracy_figure(runs_by_model: dict[str, list[dict]], steps: dict[str, int],
                              step_names: dict[int, str]
                              ) -> Figure | None:
    """Parameters against last-5-epoch mean test accuracy, one point per model; models of
    one parameter count side by side. A step of more than :data:`MAX_SERIES` models is too
    dense to label among the others: the first panel leaves its points unlabelled and a
    panel of its own, below, zooms on them with their labels. A model meets the assignment
    by the bar's own definition (every requirement, each of the last epochs, on every
    seed), never by its mean: those points are filled, the rest hollow."""
    points = []
    meets: dict[str, bool] = {}  # by the bar's own definition, never by the mean
    for model_id, runs in runs_by_model.items():
        means = [mean_last(run) for run in runs]
        points.append((runs[0]["params"], statistics.fmean(means), min(means), max(means),
                       model_id, _step_of(model_id, runs, steps)))
        meets[model_id] = all(meets_all(run) for run in runs)
    if not points:
        return None
    shifts = dodge_shifts([p[0] for p in points])
    points = [(*point, shift) for point, shift in zip(points, shifts, strict=True)]
    counts: dict[int | None, int] = {}
    for point in points:
        counts[point[5]] = counts.get(point[5], 0) + 1
    dense = [step for step, count in counts.items() if count > MAX_SERIES]
    figure, axes = new_figure(6.0 + 4.4 * len(dense), rows=1 + len(dense))
    _params_panel(axes[0, 0], points, {p[4] for p in points if p[5] not in dense},
                  step_names, legend=True, meets=meets)
    axes[0, 0].set_title(wrap_title(
        "Every model of the course\n(point: mean over the model's seeds; bar: lowest to "
        "highest seed; models of one size side by side"
        + "".join(f"; {_step_label(step, step_names).split(':')[0]} labelled below"
                  for step in dense) + ")"))
    axes[0, 0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=1)
    for ax, step in zip(axes[1:, 0], dense, strict=True):
        own = [p for p in points if p[5] == step]
        _params_panel(ax, own, {p[4] for p in own}, step_names, legend=False, meets=meets)
        label = _step_label(step, step_names)
        ax.set_title(wrap_title(f"{label[0].upper() + label[1:]}, zoomed"), loc="left")
    figure.suptitle("Parameters against accuracy")
    return figure


def series_style(index: int) -> tuple[str, str, str]:
    """Colour, marker and line style of the ``index``-th line of a panel: the colours in
    turn, then again dashed; every line its own marker (see :data:`SERIES_MARKERS`)."""
    colours = len(SERIES_COLOURS)
    return (SERIES_COLOURS[index % colours], SERIES_MARKERS[index % len(SERIES_MARKERS)],
            SERIES_DASHES[(index // colours) % len(SERIES_DASHES)])


def seed_band(runs: list[dict]) -> tuple[list[int], list[float], list[float], list[float]]:
    """Epochs, and per epoch the mean, lowest and highest test accuracy over the runs."""
    by_epoch: dict[int, list[float]] = {}
    for run in runs:
        for epoch in run["epochs"]:
            by_epoch.setdefault(epoch["epoch"], []).append(epoch["test_accuracy"])
    epochs = sorted(by_epoch)
    return (epochs, [statistics.fmean(by_epoch[e]) for e in epochs],
            [min(by_epoch[e]) for e in epochs], [max(by_epoch[e]) for e in epochs])


def _runs_label(model_id: str, runs: list[dict]) -> str:
    return (f"{model_id} ({len(runs)} seeds)" if len(runs) > 1
            else f"{model_id} (seed {runs[0]['seed']})")


@in_style
def accuracy_all_figure(runs_by_model: dict[str, list[dict]], steps: dict[str, int],
                        step_names: dict[int, str]
                        ) -> Figure | None:
    """Test accuracy per epoch of every model, a panel per step (small multiples), a step of
    more than :data:`MAX_SERIES` models split over several: each model's mean over its
    seeds, with a band from the lowest to the highest seed."""
    if not runs_by_model:
        return None
    by_step: dict[int | None, list[str]] = {}
    for model_id, runs in runs_by_model.items():
        by_step.setdefault(_step_of(model_id, runs, steps), []).append(model_id)
    panels = [(step, part, models)
              for step in sorted(by_step, key=lambda step: (step is None, step or 0))
              for part, models in enumerate(split_panels(by_step[step]), start=1)]
    parts = {step: part for step, part, _ in panels}  # how many panels each step has
    figure, axes = new_figure(0.8 + 3.6 * len(panels), rows=len(panels), sharex=True,
                               sharey=True)
    later: list[float] = []
    first: list[float] = []
    for ax, (step, part, models) in zip(axes[:, 0], panels, strict=True):
        for index, model_id in enumerate(models):
            runs = runs_by_model[model_id]
            epochs, mean, low, high = seed_band(runs)
            later += low[1:]
            first += low[:1]
            colour, marker, dash = series_style(index)
            if len(runs) > 1:
                ax.fill_between(epochs, low, high, color=colour, alpha=0.15, linewidth=0)
            ax.plot(epochs, mean, color=colour, linewidth=1.5, markersize=3.5,
                    marker=marker, linestyle=dash, label=_runs_label(model_id, runs))
        _bar_line(ax, label=ax is axes[0, 0])
        label = _step_label(step, step_names)
        label = label[0].upper() + label[1:] + (f" ({part} of {parts[step]})"
                                                if parts[step] > 1 else "")
        ax.set_title(wrap_title(label), loc="left")
        ax.set_ylabel("test accuracy (%)")
        # Under its panel, not beside it: the lines keep the figure's whole width.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncols=2, borderaxespad=0)
        ax.xaxis.set_tick_params(labelbottom=True)
    lower, clipped = _accuracy_limits(later)
    _accuracy_scale(axes[0, 0], lower)  # the panels share the y axis
    _epoch_axis(axes[-1, 0])
    figure.suptitle(wrap_title(
        "Test accuracy per epoch of every model, by step\n"
        "(line: mean over the model's seeds; band: lowest to highest seed)"
        + ("\n" + _clipped_note(lower) if clipped or min(first) < lower else "")))
    return figure


def split_panels(models: list[str], most: int = MAX_SERIES) -> list[list[str]]:
    """``models`` in order, cut into as few panels as hold at most ``most`` lines each,
    the panels as even as they can be (twelve: six and six; seven: four and three)."""
    count = max(1, math.ceil(len(models) / most))
    size, extra = divmod(len(models), count)
    cuts = [0]
    for index in range(count):
        cuts.append(cuts[-1] + size + (index < extra))
    return [models[start:end] for start, end in zip(cuts, cuts[1:], strict=False)]


LAST_EPOCHS_COLUMNS = 2  # panels per row of the last-epochs figure


@in_style
def last_epochs_figure(runs_by_model: dict[str, list[dict]], steps: dict[str, int],
                       step_names: dict[int, str], step: int) -> Figure | None:
    """The last epochs, where the bar is decided, of every model of ``step``: one small
    panel per model (in course order), each seed its own line, the bar drawn, all panels
    on one zoomed accuracy axis so a tenth of a percent shows."""
    models = [(model_id, sorted(runs, key=lambda r: r["seed"]))
              for model_id, runs in runs_by_model.items()
              if _step_of(model_id, runs, steps) == step]
    if not models:
        return None
    windows = {model_id: [last_window(run["epochs"]) for run in runs]
               for model_id, runs in models}
    values = [e["test_accuracy"] for window in windows.values() for seed in window
              for e in seed] + [ACCURACY_BAR]
    lower = max(math.floor(min(values) * 20 - 1) / 20, ACCURACY_BAR - 1.0)
    upper = math.ceil(max(values) * 20 + 1) / 20
    rows = math.ceil(len(models) / LAST_EPOCHS_COLUMNS)
    figure, axes = new_figure(1.6 + 2.0 * rows, rows=rows, cols=LAST_EPOCHS_COLUMNS,
                               sharex=True, sharey=True)
    seeds = sorted({run["seed"] for _, runs in models for run in runs})
    for ax in axes.flat:
        ax.set_visible(False)
    for ax, (model_id, runs) in zip(axes.flat, models, strict=False):
        ax.set_visible(True)
        ax.axhspan(lower, ACCURACY_BAR, color="#D55E00", alpha=0.07, linewidth=0)
        _bar_line(ax, label=False)
        for run, window in zip(runs, windows[model_id], strict=True):
            index = seeds.index(run["seed"])
            ax.plot([e["epoch"] for e in window], [e["test_accuracy"] for e in window],
                    color=SERIES_COLOURS[index % len(SERIES_COLOURS)], linewidth=1.3,
                    marker=SERIES_MARKERS[index % len(SERIES_MARKERS)], markersize=3.5,
                    label=f"seed {run['seed']}")
        lowest = min(e["test_accuracy"] for window in windows[model_id] for e in window)
        ax.set_title(f"{model_id}\n{runs[0]['params']:,} params, lowest {lowest:.2f} %",
                     fontsize=SMALL_TEXT)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_ylim(lower, upper)
    axes[0, 0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.1f}"))
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy (%)")
    for ax in list(axes.flat)[max(0, len(models) - LAST_EPOCHS_COLUMNS):len(models)]:
        ax.set_xlabel("epoch")  # the lowest panel of each column, above any empty slot
        ax.xaxis.set_tick_params(labelbottom=True)
    handles = [Line2D([], [], color=SERIES_COLOURS[k % len(SERIES_COLOURS)],
                      marker=SERIES_MARKERS[k % len(SERIES_MARKERS)], markersize=3.5,
                      linewidth=1.3, label=f"seed {seed}") for k, seed in enumerate(seeds)]
    handles.append(Line2D([], [], color=BAR_COLOUR, linestyle="--", linewidth=1.2,
                          label=f"bar: {ACCURACY_BAR:.2f} %"))
    figure.legend(handles=handles, loc="outside lower center", ncols=3)
    clipped = min(values) < lower
    label = _step_label(step, step_names)
    figure.suptitle(wrap_title(f"The last {LAST_EPOCHS} epochs of every model of {label}\n"
                               "(each line one seed; shaded: below the "
                               "bar)" + ("\n" + _clipped_note(lower) if clipped else "")))
    return figure


@in_style
def final_seeds_figure(runs: list[dict]) -> Figure | None:
    """The final model's test accuracy per epoch for every seed, last epochs shaded."""
    if not runs:
        return None
    figure, axes = new_figure(5.0)
    ax = axes[0][0]
    longest = max(runs, key=lambda run: len(run["epochs"]))
    epochs = longest["epochs"][-1]["epoch"]
    window = last_epoch_numbers(longest)
    ax.axvspan(window[0] - 0.5, window[-1] + 0.5, color="#999999", alpha=0.15,
               linewidth=0, label=f"last {LAST_EPOCHS} epochs")
    later: list[float] = []
    for index, run in enumerate(sorted(runs, key=lambda r: r["seed"])):
        accuracy = _column(run, "test_accuracy")
        later += accuracy[2:]
        ax.plot(_epochs(run), accuracy, linewidth=1.4, markersize=3,
                marker=SERIES_MARKERS[index % len(SERIES_MARKERS)],
                color=SERIES_COLOURS[index % len(SERIES_COLOURS)], label=f"seed {run['seed']}")
    _bar_line(ax)
    # Tighter than the other charts: this one is about the last tenths of a percent.
    lower, clipped = _accuracy_limits(later, zoom=98.5)
    everything = [a for run in runs for a in _column(run, "test_accuracy")]
    worst = lowest_over_seeds(runs)
    _accuracy_axis(ax, lower, clipped or min(everything) < lower,
                   wrap_title(f"{runs[0]['model_id']}: test accuracy of {len(runs)} seeds\n"
                              f"(lowest of the last {LAST_EPOCHS} epochs: {worst:.2f} %)"))
    _epoch_axis(ax)
    ax.set_xlim(0.5, epochs + 0.5)
    ax.set_ylabel("test accuracy (%)")
    # Below the axes: on a narrow figure no corner of the chart is free of lines.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3)
    return figure


def draw_course_figures(records_by_model: dict[str, list[dict]], steps: dict[str, int],
                        step_names: dict[int, str],
                        final_id: str) -> dict[str, Figure]:
    """The figures comparing models: ``params_vs_accuracy``, ``test_accuracy_all``,
    ``last_epochs`` (the final model's step, zoomed on its last epochs) and ``final_seeds``.

    ``records_by_model`` maps model id to its runs (in course order), ``steps`` model id
    to step. Failed runs are skipped; a figure with nothing to draw is left out.
    """
    runs_by_model = {model_id: complete_runs(records)
                     for model_id, records in records_by_model.items()}
    runs_by_model = {model_id: runs for model_id, runs in runs_by_model.items() if runs}
    figures = {
        "params_vs_accuracy": params_vs_accuracy_figure(runs_by_model, steps, step_names),
        "test_accuracy_all": accuracy_all_figure(runs_by_model, steps, step_names),
        "last_epochs": last_epochs_figure(runs_by_model, steps, step_names,
                                          steps.get(final_id)),
        "final_seeds": final_seeds_figure(runs_by_model.get(final_id, [])),
    }
    return {key: figure for key, figure in figures.items() if figure is not None}


def course_figures(records_by_model: dict[str, list[dict]], steps: dict[str, int],
                   step_names: dict[int, str], final_id: str, out_dir: Path
                   ) -> dict[str, Path]:
    """Write the figures of :func:`draw_course_figures` to ``out_dir`` (SVG); returns
    key -> written file."""
    return _save_all(draw_course_figures(records_by_model, steps, step_names, final_id),
                     out_dir)


# The file each figure is written to; the suffix decides the format.
FILE_NAMES = {
    "curves": "curves.svg", "lr": "lr.svg", "misclassified": "misclassified.png",
    "confusion": "confusion.svg", "params_vs_accuracy": "params_vs_accuracy.svg",
    "test_accuracy_all": "test_accuracy_all.svg", "last_epochs": "last_epochs.svg",
    "final_seeds": "final_seeds.svg",
}


__all__ = ["FILE_NAMES", "STEP_COLOURS", "complete_runs", "course_figures", "displayed_px",
           "draw_course_figures", "draw_model_figures", "in_style", "is_constant_rate",
           "model_figures", "new_figure", "save_figure"]

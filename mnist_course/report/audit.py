"""The audit: every figure the written pages show, recomputed from the stored runs.

The pages are right only if each template's author remembered each case; the audit does
not trust them. After the pages are written it

- reads every run's ``metrics.json`` itself (its own reading and its own arithmetic, not the
  summaries the templates used: across-seed lowest, mean, sd from unrounded values,
  rounded once, as displayed) and compares each figure of the tables the pages show (the
  model pages' Result and per-seed tables and epoch rows, the models tables of the step
  overviews and the comparison, the home page's result and requirements table, the
  comparison's final-model table) with what the runs give;
- recomputes every figure the filters printed (on every page, Concepts, the sweep and
  Reproduce included, and in the write-up) from the source it carries
  (:mod:`mnist_course.sourced`), with its own reading and arithmetic, and formats it the
  same way: a bare number (typed into a template, or computed apart from the runs), a
  value the runs do not give, or one computed from rounded values is a problem;
- scans every page for figures ("99.42 %", "+0.12 points", "7,770") that the renderer did
  not print through its filters (:func:`mnist_course.report.format.recording`), so a number
  typed into a template, or changed in a written page, is caught;
- and checks the prose rules: no value compared with itself ("from 0.08 points to 0.08
  points"), no parenthesis inside a parenthesis.

Each disagreement is one line naming the page and the figure. Torch-free.
"""

from __future__ import annotations

import html
import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from mnist_course.assignment import (
    ACCURACY_BAR,
    BUSY_FACTOR,
    LAST_EPOCHS,
    MAX_EPOCHS,
    PARAM_BUDGET,
    counts,
)
from mnist_course.errors import ResultsError
from mnist_course.report.format import Printed, md, recording
from mnist_course.report.paths import model_page, step_page
from mnist_course.report.render import Site, docs_path, render_pages, render_writeup
from mnist_course.report.sweep_page import goal_name
from mnist_course.store.files import load_metrics, metrics_path

MINUS = "\u2212"
# The figures the pages print: a mean with its sd, an accuracy, a difference or spread in
# points, a count with thousands separators. Longest first, so "99.52 ± 0.027 %" is one.
FIGURE = re.compile(r"\d+\.\d+ ± \d+\.\d+ %|[+\u2212]?\d+\.\d+ (?:%|points)"
                    r"|(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,]*\.\d)")


# ----------------------------------------------------------------------------------------
# The runs, read and summarised here (not through mnist_course.summary)


def _last(record: dict) -> list[float]:
    return [e["test_accuracy"] for e in record["epochs"][-LAST_EPOCHS:]]


def _passes(record: dict) -> bool:
    last = _last(record)
    return (record["params"] < PARAM_BUDGET and 0 < len(record["epochs"]) <= MAX_EPOCHS
            and record.get("status") == "complete" and not record.get("quick_check")
            and len(last) == LAST_EPOCHS and min(last) >= ACCURACY_BAR
            and record.get("has_linear") is False)


@dataclass
class Runs:
    """One model's runs as the audit reads them, and the figures it derives from them."""

    title: str
    records: list[dict]  # by seed

    @property
    def main(self) -> dict:
        return next((r for r in self.records if r["seed"] == 0), self.records[0])

    @property
    def means(self) -> list[float]:
        return [statistics.fmean(_last(r)) for r in self.records]

    def figures(self) -> dict[str, float]:
        means = self.means
        last_epoch = [r["epochs"][-1] for r in self.records]
        return {
            "lowest": min(min(_last(r)) for r in self.records),
            "mean": statistics.fmean(means),
            "sd": statistics.stdev(means) if len(means) > 1 else 0.0,
            "range": max(means) - min(means),
            "first_test": statistics.fmean(r["epochs"][0]["test_accuracy"]
                                           for r in self.records),
            "final_test": statistics.fmean(e["test_accuracy"] for e in last_epoch),
            "final_train": statistics.fmean(e["train_accuracy"] for e in last_epoch),
            "gap": statistics.fmean(e["train_accuracy"] - e["test_accuracy"]
                                    for e in last_epoch),
            "spread": statistics.fmean(max(_last(r)) - min(_last(r)) for r in self.records),
        }

    def on(self, seeds: set[int]) -> Runs:
        return Runs(self.title, [r for r in self.records if r["seed"] in seeds])

    @property
    def failing(self) -> int:
        return sum(not _passes(r) for r in self.records)


def read_runs(site: Site, results_dir: Path) -> dict[str, Runs]:
    """Every model's usable runs, read from ``metrics.json`` (the seeds the site expects);
    which files are valid runs is the results store's word, every figure is the audit's."""
    runs = {}
    for results in site.models:
        model = results.model
        records = []
        for run in results.states:
            path = metrics_path(Path(results_dir), model.id, run.seed)
            try:  # a file the results store rejects (damaged, another schema) is no run
                record = load_metrics(path)
            except ResultsError:
                continue
            if counts(record, model.id, site.preview is not None):
                records.append(record)
        if records:
            runs[model.id] = Runs(model.title, sorted(records, key=lambda r: r["seed"]))
    return runs


def _pct(value: float) -> str:
    return f"{value:.2f} %"


def _points(value: float) -> str:
    return f"{value:.2f} points"


def _signed(value: float) -> str:
    return f"{value:+.2f} points".replace("-", MINUS)


def _seeds(n: int) -> str:
    return f"{n} seed{'' if n == 1 else 's'}"


def _pass_count(passing: int, total: int) -> str:
    return f"{passing} of {_seeds(total)} {'passes' if passing == 1 else 'pass'}"


def _verdict(runs: Runs, final: Runs | None) -> str:
    """The requirements badge as a reader sees it: the seeds that pass, and beside it, for
    a model on fewer seeds than the final model, how many each ran."""
    total = len(runs.records)
    words = _pass_count(total - runs.failing, total)
    if final is not None and total < len(final.records):
        words += f" · {_seeds(total)}; the final model ran {len(final.records)}"
    return words


# ----------------------------------------------------------------------------------------
# The pages, read as Markdown


def _plain(cell: str) -> str:
    """A cell or sentence as a reader sees it: no badges' markup, links as their text."""
    cell = re.sub(r"<[^>]+>", "", cell)
    cell = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell)
    return " ".join(html.unescape(cell.replace("**", "")).split())


@dataclass
class Table:
    header: list[str]
    rows: list[tuple[int, list[str]]] = field(default_factory=list)  # (line number, cells)


def _cells(line: str) -> list[str]:
    return [_plain(c) for c in line.strip().strip("|").split("|")]


def tables(text: str) -> list[Table]:
    """Every Markdown table of a page (rows inside folded details count too)."""
    separator = re.compile(r"\|(\s*:?-+:?\s*\|)+")
    found: list[Table] = []
    current: Table | None = None
    lines = [line.strip() for line in text.splitlines()]
    for number, line in enumerate(lines, 1):
        if separator.fullmatch(line) and number > 1 and lines[number - 2].startswith("|"):
            current = Table(_cells(lines[number - 2]))
            found.append(current)
        elif current is not None and line.startswith("|"):
            current.rows.append((number, _cells(line)))
        else:
            current = None
    return found


def _table(text: str, *header_start: str) -> list[Table]:
    return [t for t in tables(text) if t.header[:len(header_start)] == list(header_start)]


def _section(text: str, heading: str) -> tuple[int, str]:
    """A page's ``## heading`` section: (its first line's number, its text)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not match:
        return 0, ""
    return text[:match.start(1)].count("\n") + 1, match.group(1)


# ----------------------------------------------------------------------------------------
# The checks


@dataclass
class Findings:
    page: str
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line number, words)

    def differs(self, line: int, figure: str, shown: str, expected: str) -> None:
        if shown != expected:
            self.problems.append((line, f"{figure}: the page shows {shown!r}, the runs give "
                                        f"{expected!r}"))

    def add(self, line: int, words: str) -> None:
        self.problems.append((line, words))

    def lines(self) -> list[str]:
        return [f"{self.page}, line {line}: {words}" for line, words in self.problems]


def _rows_of(found: Findings, text: str, header: tuple[str, ...], items: dict, what: str):
    """The rows of the tables with this header, each with the item its first cell names
    (a seed, a model's title); a row that names none is a problem."""
    for table in _table(text, *header):
        for line, cells in table.rows:
            if cells[0] not in items:
                found.add(line, f"{what}: {cells[0]!r} is in no stored run")
                continue
            yield line, cells, items[cells[0]]


def check_model_page(found: Findings, text: str, runs: Runs, final: Runs | None) -> None:
    """A model page's Result table, its per-seed table and its epoch rows (``final``: the
    course's final model, whose seeds the badge of a model on fewer seeds names)."""
    figures = runs.figures()
    main = runs.main
    expected = {
        "Parameters": f"{main['params']:,}",
        "Seeds trained": f"{len(runs.records)} ("
                         + ", ".join(str(r["seed"]) for r in runs.records) + ")",
        "Requirements met": _verdict(runs, final),
        f"Lowest of any last-{LAST_EPOCHS} epoch, all seeds": _pct(figures["lowest"]),
        f"Mean of the last {LAST_EPOCHS} epochs over seeds":
            f"{figures['mean']:.2f} ± {figures['sd']:.3f} %",
        f"Seeds' last-{LAST_EPOCHS} means land within": _points(figures["range"]),
        "Test accuracy after epoch 1 (mean)": _pct(figures["first_test"]),
        "Final test / train accuracy (mean)":
            f"{_pct(figures['final_test'])} / {_pct(figures['final_train'])}",
    }
    seen = set()
    for table in _table(text, "Figure", "Value"):
        for line, cells in table.rows:
            label, value = cells[0], cells[1] if len(cells) > 1 else ""
            if label == "Parameters":
                value = value.split(" (")[0]
            if label in expected:
                seen.add(label)
                found.differs(line, f"Result, {label!r}", value, expected[label])
    for label in sorted(set(expected) - seen):
        found.add(0, f"Result, {label!r}: missing from the page")
    by_seed = {str(r["seed"]): r for r in runs.records}
    listed = set()
    for line, cells, record in _rows_of(found, text, ("Seed", f"Lowest of last {LAST_EPOCHS}"),
                                        by_seed, "per-seed table, seed"):
        listed.add(cells[0])
        last = _last(record)
        want = [cells[0], _pct(min(last)), _pct(statistics.fmean(last)),
                "pass" if _passes(record) else "fail", ", ".join(_pct(v) for v in last)]
        for name, shown, value in zip(("", "lowest", "mean", "requirements", "last epochs"),
                                      cells, want, strict=False):
            if name:
                found.differs(line, f"per-seed table, seed {cells[0]}, {name}", shown, value)
    for seed in sorted(set(by_seed) - listed):
        found.add(0, f"per-seed table: seed {seed} is missing")
    for table in _table(text, "Epoch", "Test acc."):
        epochs = {str(e["epoch"]): e for e in main["epochs"]}
        for line, cells in table.rows:
            epoch = epochs.get(cells[0])
            if epoch is None:
                found.add(line, f"epoch table: epoch {cells[0]} is not in the run")
                continue
            want = [f"{epoch['test_accuracy']:.2f}", f"{epoch['train_accuracy']:.2f}",
                    f"{epoch['test_loss']:.4f}", f"{epoch['train_loss']:.4f}"]
            for name, shown, value in zip(("test acc.", "train acc.", "test loss",
                                           "train loss"), cells[1:5], want, strict=True):
                found.differs(line, f"epoch table, epoch {cells[0]}, {name}", shown, value)


def check_step_chain(found: Findings, text: str, runs: dict[str, Runs],
                     titles: dict[str, str]) -> None:
    """The final model's table of what each change of its step added, on the seeds every
    model of the chain ran: each mean, each change from the row above, and its noise."""
    match = re.search(r"On the seeds every model of the chain ran \(([\d, ]+)\)", text)
    if not match:
        return
    seeds = {int(seed) for seed in match.group(1).split(",")}
    by_title = {title: model_id for model_id, title in titles.items()}
    before: Runs | None = None
    for table in _table(text, "Model", "Its one change"):
        for line, cells in table.rows:
            model = runs.get(by_title.get(cells[0], ""))
            if model is None:
                found.add(line, f"step chain: {cells[0]!r} has no stored runs")
                continue
            model = model.on(seeds)
            mean = model.figures()["mean"]
            found.differs(line, f"step chain, {cells[0]}, mean", cells[2], _pct(mean))
            if before is not None:
                earlier = before.figures()
                change = mean - earlier["mean"]  # unrounded means, rounded once as printed
                noise = max(model.figures()["range"], earlier["range"])
                found.differs(line, f"step chain, {cells[0]}, change", cells[3], _signed(change))
                found.differs(line, f"step chain, {cells[0]}, noise", cells[4],
                              "unknown (one seed)" if len(seeds) == 1 else
                              f"{'within' if abs(change) <= noise else 'beyond'} "
                              f"({_points(noise)})")
            before = model


def check_models_table(found: Findings, text: str, runs: dict[str, Runs],
                       titles: dict[str, str], final: Runs | None) -> None:
    """The step overviews' and the comparison's table of models."""
    by_title = {title: model_id for model_id, title in titles.items()}
    for line, cells, model_id in _rows_of(found, text, ("Model", "Parameters", "Requirements"),
                                          by_title, "models table"):
        if model_id not in runs:
            found.differs(line, f"models table, {cells[0]}, requirements", cells[2],
                          "not trained")
            continue
        model = runs[model_id]
        figures = model.figures()
        want = [f"{model.main['params']:,}", _verdict(model, final), _pct(figures["lowest"]),
                f"{figures['mean']:.2f} ± {figures['sd']:.3f} %"]
        shown = cells[1:5]
        shown[1] = shown[1].removesuffix(", stale")
        for name, cell, value in zip(("parameters", "requirements", "lowest last epoch",
                                      "mean ± sd"), shown, want, strict=True):
            found.differs(line, f"models table, {cells[0]}, {name}", cell, value)


def _requirements(final: Runs) -> dict[str, tuple[str, str]]:
    """The home page's requirements table as the runs give it: name -> (worst, result, the
    seeds that pass)."""
    records = final.records
    total = len(records)
    lowest = {r["seed"]: min(_last(r)) for r in records}
    rows = {}
    checks = (
        (f"fewer than {PARAM_BUDGET:,} parameters",
         lambda r: r["params"] < PARAM_BUDGET, lambda r: r["params"],
         lambda r: f"{r['params']:,}"),
        (f"at most {MAX_EPOCHS} epochs", lambda r: 0 < len(r["epochs"]) <= MAX_EPOCHS,
         lambda r: len(r["epochs"]), lambda r: str(len(r["epochs"]))),
        (f"test accuracy ≥ {ACCURACY_BAR:.2f} % in each of the last {LAST_EPOCHS} epochs",
         lambda r: lowest[r["seed"]] >= ACCURACY_BAR and not r.get("quick_check"),
         lambda r: -lowest[r["seed"]], lambda r: f"lowest {lowest[r['seed']]:.2f} %"),
        ("no fully connected layer", lambda r: r.get("has_linear") is False,
         lambda r: bool(r.get("has_linear")), lambda r: "has nn.Linear"
         if r.get("has_linear") else "none"),
    )
    for name, passes, badness, shown in checks:
        worst = max(records, key=lambda r, p=passes, b=badness: (not p(r), b(r)))
        same = len({shown(r) for r in records}) == 1
        passing = sum(bool(passes(r)) for r in records)
        rows[name] = (shown(worst) + ("" if same else f" (seed {worst['seed']})"),
                      _pass_count(passing, total))
    return rows


def check_home(found: Findings, text: str, final: Runs | None) -> None:
    if final is None:
        return
    figures = final.figures()
    _, result = _section(text, "The result")
    prose = _plain(result)
    for label, pattern, value in (
            ("parameters", r"has (\S+) parameters", f"{final.main['params']:,}"),
            ("seeds", r"trained on (\d+) seeds?", str(len(final.records))),
            ("lowest of the last epochs", r"last \d+ epochs is (\d+\.\d+ %);",
             _pct(figures["lowest"])),
            ("mean ± sd", r"the mean of the last \d+ epochs is (\S+ ± \S+ %)",
             f"{figures['mean']:.2f} ± {figures['sd']:.3f} %")):
        match = re.search(pattern, prose)
        line = text.find(match.group(1)) if match else -1
        found.differs(text[:line].count("\n") + 1 if line >= 0 else 0,
                      f"the result, {label}", match.group(1) if match else "nothing", value)
    expected = _requirements(final)
    for table in _table(text, "Requirement", f"Worst over {_seeds(len(final.records))}"):
        for line, cells in table.rows:
            if cells[0] not in expected:
                found.add(line, f"requirements table: {cells[0]!r} is no requirement")
                continue
            for name, shown, value in zip(("worst", "result"), cells[1:3],
                                          expected.pop(cells[0]), strict=True):
                found.differs(line, f"requirements table, {cells[0]}, {name}", shown, value)
    for name in expected:
        found.add(0, f"requirements table: {name!r} is missing")


def check_comparison(found: Findings, text: str, final: Runs | None) -> None:
    if final is None:
        return
    by_seed = {str(r["seed"]): r for r in final.records}
    labels = [f"Ep. {e['epoch']}" for e in final.main["epochs"][-LAST_EPOCHS:]]
    for table in _table(text, "Seed", "Lowest", "Mean"):
        line = _line_of(text, "| Seed | Lowest | Mean |")
        found.differs(line, "final model's seeds, the epochs' columns",
                      " | ".join(table.header[3:]), " | ".join(labels))
    for line, cells, record in _rows_of(found, text, ("Seed", "Lowest", "Mean"), by_seed,
                                        "final model's seeds, seed"):
        last = _last(record)
        want = [f"{min(last):.2f}", f"{statistics.fmean(last):.2f}", *(f"{v:.2f}" for v in last)]
        for k, (shown, value) in enumerate(zip(cells[1:], want, strict=False)):
            name = ("lowest", "mean")[k] if k < 2 else f"epoch {k - 1} of the last"
            found.differs(line, f"final model's seeds, seed {cells[0]}, {name}", shown, value)
    figures = final.figures()
    prose = _plain(text)
    match = re.search(r"test accuracies is (\S+ ± \S+ %)", prose)
    if match:
        found.differs(0, "the final model across seeds, mean ± sd", match.group(1),
                      f"{figures['mean']:.2f} ± {figures['sd']:.3f} %")


def _figures(text: str) -> list[str]:
    return FIGURE.findall(text)


def _without_code(text: str) -> str:
    """The page with its code fences and inline code blanked (line numbers kept)."""
    text = re.sub(r"^(\s*)(`{3,})[^\n]*\n.*?^\s*\2\s*$",
                  lambda m: "\n" * m.group(0).count("\n"), text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "``", text)


def check_prose(found: Findings, text: str, exempt: tuple[str, ...] = ()) -> None:
    """No parenthesis inside a parenthesis, no value compared with itself (formulas,
    links' addresses, trademarks such as "Intel(R)" and the course author's own words,
    ``exempt`` as the page shows them, are not the generated prose these rules hold)."""
    for words in sorted(exempt, key=len, reverse=True):
        text = text.replace(words, "…") if words else text
    text = re.sub(r"\$\$.*?\$\$", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    depth, paragraph = 0, []  # over a paragraph: prose wraps across lines
    for number, line in enumerate([*text.splitlines(), ""], 1):
        if not line.strip() or line.lstrip().startswith(("|", "<", "!", "\\", "#", "?")):
            _self_comparisons(found, paragraph)
            depth, paragraph = 0, []
            continue
        prose = re.sub(r"\]\([^)]*\)", "]", re.sub(r"\$[^$]*\$", "", line))
        prose = re.sub(r"\((?:R|TM|C)\)", "", prose)
        paragraph.append((number, prose))
        for char in prose:
            depth = max(0, depth + {"(": 1, ")": -1}.get(char, 0))
            if depth > 1:
                found.add(number, "a parenthesis inside a parenthesis")
                depth = 1
                break


def _self_comparisons(found: Findings, paragraph: list[tuple[int, str]]) -> None:
    """"from X to X" or "X ..., against X" within one sentence of a paragraph."""
    text = " ".join(prose for _, prose in paragraph)
    for figure in dict.fromkeys(_figures(text)):
        pattern = re.escape(figure)
        match = (re.search(rf"from {pattern} to {pattern}(?!\d)", text)
                 or re.search(rf"{pattern}[^.;:]{{0,80}}?(?:against|\(was|\(it was) "
                              rf"{pattern}(?!\d)", text))
        if match:  # named by the line the comparison starts on
            ends = [sum(len(prose) + 1 for _, prose in paragraph[:k + 1])
                    for k in range(len(paragraph))]
            line = paragraph[next(k for k, end in enumerate(ends) if end > match.start())][0]
            found.add(line, f"compares {figure!r} with itself")


def audit_text(page: str, text: str, printed: list[Printed], allowed: set[str]
               ) -> list[tuple[int, str]]:
    """Figures on ``page`` that the renderer did not print (``allowed``: figures typed in
    the course's own words, Targets and titles). What the renderer printed is recomputed
    from its source by :func:`check_printed`, an Analysis's figures included: it may quote
    exactly what its sourced variables hold."""
    shown = {f for entry in printed for f in _figures(entry.text)} | allowed
    out = []
    for number, line in enumerate(_without_code(text).splitlines(), 1):
        for figure in _figures(line):
            if figure not in shown:
                out.append((number, f"{figure!r} is shown but no filter printed it from the "
                                    "runs (typed into a template, or changed in the page?)"))
    return out


def _authored(site: Site) -> list[str]:
    """The course author's words (titles, Targets, step notes), which the pages quote."""
    definition = site.course
    words = [definition.title, definition.description or "", *definition.step_notes.values(),
             *definition.steps.values()]
    for model in definition:
        words += [model.title, *model.target]
    for view in getattr(site, "sweeps", None) or ():  # a design sweep's own title and goal
        words += [getattr(view.sweep, name, "") for name in ("title", "goal")]
    return [str(text) for text in words if text]


def _recorded_text(site: Site) -> list[str]:
    """Text a run records about itself (its title, the machine's and torch's names): the
    pages quote it as it is, so it is not generated prose either."""
    words = []
    for results in site.models:
        for record in results.records:
            provenance = record.get("provenance") or {}
            words += [record.get("title") or "", *(str(provenance.get(name) or "") for name in
                                                   ("device_name", "torch", "git_commit"))]
    return [text for text in words if text]


def _course_words(site: Site) -> set[str]:
    """The figures the course author typed (a Target's "4,000 parameters") and those of
    the build's own options ("1 epoch on 2,000 images"): shown, but not from the runs."""
    words = _authored(site)
    if site.preview is not None:
        words.append(site.preview.describe())
    return {f for text in words for f in _figures(text)}


def _classifier_params(results_dir: Path, model_id: str) -> int | None:
    """The last layer's parameters, from the stored architecture summary."""
    try:
        layers = json.loads((Path(results_dir) / model_id / "architecture.json")
                            .read_text(encoding="utf-8"))["layers"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    weighted = [row["params"] for row in layers if row.get("params")]
    return weighted[-1] if weighted else None


# ----------------------------------------------------------------------------------------
# Every printed figure, recomputed from its source (mnist_course.sourced) with the audit's
# own reading and arithmetic


def _mean_of(values: list[float]) -> float:
    # An exact sum (math.fsum), as statistics.fmean takes it: a plain sum's last-bit error
    # can land a mean such as 99.185 on the other side of a rounding tie than the page's.
    return math.fsum(values) / len(values)


def _sample_sd(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    centre = _mean_of(values)
    return (sum((v - centre) ** 2 for v in values) / (len(values) - 1)) ** 0.5


def _window(record: dict) -> list[float]:
    return [e["test_accuracy"] for e in record["epochs"]][-LAST_EPOCHS:]


# Each statistic a source may name, computed here from the runs' plain JSON.
_STATISTICS = {
    "seed_mean": lambda runs: _mean_of(_window(runs[0])),
    "seed_lowest": lambda runs: min(_window(runs[0])),
    "mean": lambda runs: _mean_of([_mean_of(_window(r)) for r in runs]),
    "sd": lambda runs: _sample_sd([_mean_of(_window(r)) for r in runs]),
    "range": lambda runs: (max(_mean_of(_window(r)) for r in runs)
                           - min(_mean_of(_window(r)) for r in runs)),
    "lowest": lambda runs: min(min(_window(r)) for r in runs),
    "widest_spread": lambda runs: max(max(_window(r)) - min(_window(r)) for r in runs),
    "spread_mean": lambda runs: _mean_of([max(_window(r)) - min(_window(r)) for r in runs]),
    "first_test_mean": lambda runs: _mean_of([r["epochs"][0]["test_accuracy"] for r in runs]),
    "final_test_mean": lambda runs: _mean_of([r["epochs"][-1]["test_accuracy"]
                                              for r in runs]),
    "final_train_mean": lambda runs: _mean_of([r["epochs"][-1]["train_accuracy"]
                                               for r in runs]),
    "gap_mean": lambda runs: _mean_of([r["epochs"][-1]["train_accuracy"]
                                       - r["epochs"][-1]["test_accuracy"] for r in runs]),
    "gap": lambda runs: (runs[0]["epochs"][-1]["train_accuracy"]
                         - runs[0]["epochs"][-1]["test_accuracy"]),
    "best_test": lambda runs: max(e["test_accuracy"] for e in runs[0]["epochs"]),
    "median_seconds": lambda runs: _quiet_median([r["provenance"]["training_seconds"]
                                                  for r in runs]),
}


def _quiet_median(times: list[float]) -> float:
    """The median of the times within BUSY_FACTOR of the fastest (the others were measured
    on a busy machine)."""
    quiet = sorted(t for t in times if t <= BUSY_FACTOR * min(times))
    middle = len(quiet) // 2
    return quiet[middle] if len(quiet) % 2 else (quiet[middle - 1] + quiet[middle]) / 2


def _duration(value: float) -> str:
    """A duration as the pages write it: "1 min 15 s", "1 h 6 min", "7.0 s"."""
    total = round(value)
    hours, minutes, secs = total // 3600, total % 3600 // 60, total % 60
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{value:.1f} s" if value < 10 else f"{secs} s"

_CONSTANTS = {"ACCURACY_BAR": ACCURACY_BAR, "PARAM_BUDGET": PARAM_BUDGET,
              "MAX_EPOCHS": MAX_EPOCHS, "LAST_EPOCHS": LAST_EPOCHS}

_OPERATIONS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
               "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
               "neg": lambda a: -a, "abs": abs, "round2": lambda a: round(a, 2)}


def sweep_goals(site: Site) -> dict[str, float]:
    """Each design sweep's goal on the mean, under the name its page's figures cite."""
    return {goal_name(sweep): sweep.mean_goal for sweep in site.course.sweeps
            if sweep.mean_goal is not None}


class Unsourced(Exception):
    """A source the audit cannot follow back to a stored file or a named constant."""


class Recompute:
    """The value of a source, read from the results folder's JSON files here."""

    def __init__(self, results_dir: Path, goals: dict[str, float] | None = None):
        self.results_dir = Path(results_dir)
        self._files: dict[str, object] = {}
        # The design sweeps' goals, by the names their views give them (see sweep_goal):
        # definitions like the bar, read from the course rather than from runs.
        self.goals = goals or {}

    def file(self, name: str) -> object:
        if name not in self._files:
            path = self.results_dir / name
            try:
                self._files[name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise Unsourced(f"{name} cannot be read") from exc
        return self._files[name]

    def run(self, model_id: str, seed: int) -> dict:
        for folder in (model_id, f"sweep/{model_id}"):
            name = f"{folder}/seed-{seed}/metrics.json"
            if (self.results_dir / name).exists():
                return self.file(name)  # type: ignore[return-value]
        raise Unsourced(f"{model_id} seed {seed} has no stored run")

    def value(self, source: tuple) -> float:
        kind, *rest = source
        if kind == "constant" and rest[0] in _CONSTANTS:
            return _CONSTANTS[rest[0]]
        if kind == "constant" and rest[0] in self.goals:
            return self.goals[rest[0]]
        if kind == "literal":
            return rest[0]
        if kind == "json":
            data = self.file(rest[0])
            for key in rest[1]:
                data = data[key]  # type: ignore[index]
            return data  # type: ignore[return-value]
        if kind == "epoch":
            model_id, seed, number, name = rest
            epoch = next(e for e in self.run(model_id, seed)["epochs"] if e["epoch"] == number)
            return epoch[name]
        if kind == "record":
            model_id, seed, name = rest
            return self._record_field(self.run(model_id, seed), model_id, name)
        if kind == "stat" and rest[0] in _STATISTICS:
            return _STATISTICS[rest[0]]([self.run(m, s) for m, s in rest[1]])
        if kind == "op" and rest[0] in _OPERATIONS:
            return _OPERATIONS[rest[0]](*(self.value(operand) for operand in rest[1:]))
        raise Unsourced(f"unknown source {kind!r}")

    def _record_field(self, record: dict, model_id: str, name: str) -> float:
        if name == "classifier_params":
            return _classifier_params(self.results_dir, model_id) or 0
        data: object = record
        for key in name.split("."):
            data = data[key]  # type: ignore[index]
        return data  # type: ignore[return-value]

    def rounded_inside(self, source: tuple) -> bool:
        """Whether a value was rounded before arithmetic went on with it (a difference of
        rounded means): rounding a value already at two decimals changes nothing."""
        if source[0] != "op":
            return False
        operands = source[2:]
        for operand in operands:
            if operand[0] == "op" and operand[1] == "round2" and source[1] != "round2":
                inner = self.value(operand[2])
                if abs(round(inner, 2) - inner) > 1e-9:
                    return True
            if self.rounded_inside(operand):
                return True
        return False


_FORMATS = {
    "pct": lambda v: _pct(v[0]),
    "pts": lambda v: _signed(v[0]),
    "points": lambda v: _points(v[0]),
    "count": lambda v: f"{round(v[0]):,}".replace("-", MINUS),
    "mean_sd": lambda v: f"{v[0]:.2f} ± {v[1]:.3f} %",
    "acc": lambda v: f"{v[0]:.2f}",
    "loss": lambda v: f"{v[0]:.4f}",
    "seconds": lambda v: _duration(v[0]),
}


def _line_of(text: str, figure: str) -> int:
    at = text.find(figure)
    return text[:at].count("\n") + 1 if at >= 0 else 0


def check_printed(found: Findings, text: str, printed: list[Printed],
                  recompute: Recompute) -> None:
    """Every figure the filters printed for this page, recomputed from its source and
    formatted here: a bare number (no source), a value the runs do not give, or one
    computed from rounded values is a problem."""
    for entry in printed:
        line = _line_of(text, entry.text)
        if entry.bare:
            found.add(line, f"{entry.text!r} has no source: a number typed into a template "
                            "or computed apart from the runs")
            continue
        try:
            values = [recompute.value(source) for source in entry.sources]
            rounded = any(recompute.rounded_inside(source) for source in entry.sources)
        except (Unsourced, LookupError, TypeError, ZeroDivisionError, StopIteration) as exc:
            found.add(line, f"{entry.text!r}: its source cannot be followed ({exc})")
            continue
        if rounded:
            found.add(line, f"{entry.text!r} is computed from rounded values (a difference "
                            "of rounded means?); compute from the runs' own values")
            continue
        if entry.unit in _FORMATS:
            found.differs(line, f"{entry.unit} figure", entry.text, _FORMATS[entry.unit](values))


def audit_pages(site: Site, results_dir: Path, docs_dir: Path) -> list[str]:
    """Every disagreement between the written pages in ``docs_dir`` and the runs in
    ``results_dir``, one line each naming the page and the figure; empty when none."""
    printed: dict[str, list[Printed]] = {}
    render_pages(site, printed)
    recompute = Recompute(results_dir, sweep_goals(site))
    runs = read_runs(site, results_dir)
    titles = {r.model.id: r.model.title for r in site.models}
    final = runs.get(site.course.final or "")
    allowed = _course_words(site)
    exempt = tuple({str(md(words)) for words in _authored(site) + _recorded_text(site)})
    pages = {model_page(site.course, r.model): r.model for r in site.models}
    problems: list[str] = []
    for page in sorted(printed):
        path = docs_path(docs_dir, page)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            problems.append(f"{page}: the page was not written")
            continue
        found = Findings(page)
        model = pages.get(page)
        if model is not None and model.id in runs:
            check_model_page(found, text, runs[model.id], final)
            check_step_chain(found, text, runs, titles)
        overviews = {step_page(site.course, s) for s in site.course.steps}
        if page in overviews or page == "comparison.md":
            check_models_table(found, text, runs, titles, final)
        if page == "index.md":
            check_home(found, text, final)
        if page == "comparison.md":
            check_comparison(found, text, final)
        check_printed(found, text, printed[page], recompute)
        check_prose(found, _without_code(text), exempt)
        flagged = {line for line, _ in found.problems}
        found.problems += [(line, words) for line, words in
                           audit_text(page, text, printed[page], allowed)
                           if line not in flagged]
        problems += found.lines()
    return problems


def audit_writeup(site: Site, results_dir: Path, path: Path, files_dir: str) -> list[str]:
    """The written ``WRITEUP.md`` (or ``WRITEUP-preview.md``) held to the runs like a page:
    every figure its template printed recomputed from its source, no figure that no filter
    printed, the prose rules; one line per problem naming the file."""
    path = Path(path)
    with recording() as printed:
        render_writeup(site, files_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return [f"{path.name}: the write-up was not written"]
    found = Findings(path.name)
    check_printed(found, text, printed, Recompute(results_dir, sweep_goals(site)))
    exempt = tuple({str(md(words)) for words in _authored(site) + _recorded_text(site)})
    check_prose(found, _without_code(text), exempt)
    flagged = {line for line, _ in found.problems}
    found.problems += [(line, words) for line, words in
                       audit_text(path.name, text, printed, _course_words(site))
                       if line not in flagged]
    return found.lines()


__all__ = ["FIGURE", "Recompute", "Runs", "audit_pages", "audit_writeup",
           "check_printed", "read_runs", "tables"]

"""Numbers that carry their source: which statistic of which runs, or which named constant.

A :class:`Sourced` value is a float (or an int, :class:`SourcedInt`) with a ``source``:
a plain tuple the audit (:mod:`mnist_course.report.audit`) reads to recompute the value
from the ``metrics.json`` files with its own arithmetic. Arithmetic between sourced
values, and with whole-number literals (``100 * share``, ``sum`` starting at 0), gives a
sourced value whose source is the operation over both; anything else gives a bare float,
which the filters record as having no source, and the audit reports.

Sources (``runs`` is a tuple of ``(model_id, seed)`` pairs, sorted):

- ``("constant", NAME)``: a term of the assignment (:mod:`mnist_course.assignment`);
- ``("epoch", model_id, seed, epoch, field)``: one stored epoch's value;
- ``("record", model_id, seed, field)``: a stored run's own field (``params``);
- ``("json", file, path)``: the number at key ``path`` of a JSON file of the results
  folder (a run's ``metrics.json``, a model's ``architecture.json``, ``concepts.json``);
- ``("stat", NAME, runs)``: a statistic of runs, by name (:data:`STATISTICS`);
- ``("op", NAME, *operands)``: arithmetic over sources (``add``, ``sub``, ``mul``,
  ``div``, ``neg``, ``abs``, ``round2``), and ``("literal", value)`` for a whole number.

Torch-free, with no dependency inside the package.
"""

from __future__ import annotations

from typing import Any

# The statistics a ``("stat", NAME, runs)`` source may name, in words: what the audit
# recomputes for each (over the runs' last windows unless it says otherwise).
STATISTICS = {
    "seed_mean": "the mean of one run's last epochs",
    "seed_lowest": "the lowest of one run's last epochs",
    "mean": "the mean over runs of each run's last-epoch mean",
    "sd": "the sample standard deviation of the runs' last-epoch means (0 for one run)",
    "range": "the highest minus the lowest of the runs' last-epoch means",
    "lowest": "the lowest test accuracy of any run's last epochs",
    "widest_spread": "the largest highest-minus-lowest of one run's last epochs",
    "spread_mean": "the mean over runs of highest-minus-lowest of each run's last epochs",
    "first_test_mean": "the mean over runs of the test accuracy after epoch 1",
    "final_test_mean": "the mean over runs of the last epoch's test accuracy",
    "final_train_mean": "the mean over runs of the last epoch's training accuracy",
    "gap_mean": "the mean over runs of the last epoch's train minus test accuracy",
    "gap": "one run's last train minus test accuracy",
    "best_test": "one run's highest test accuracy",
    "median_seconds": "the median training time of the runs not measured on a busy machine "
                      "(more than BUSY_FACTOR times the fastest run)",
}


def _source_of(value: object) -> tuple | None:
    if isinstance(value, Sourced | SourcedInt):
        return value.source
    if isinstance(value, int) and not isinstance(value, bool):
        return ("literal", value)  # a whole number in a template: 100 * share, sum from 0
    return None


def _combine(name: str, result: Any, *operands: object) -> Any:
    sources = [_source_of(operand) for operand in operands]
    if any(source is None for source in sources) or all(
            source[0] == "literal" for source in sources):
        return result
    return sourced(result, ("op", name, *sources))


def _binary(name: str, method: str):
    """The operator ``method`` (``"add"``) and its reflection, keeping the source."""
    def forward(self, other):
        return _combine(name, getattr(self._base, f"__{method}__")(self, other), self, other)

    def reflected(self, other):
        return _combine(name, getattr(self._base, f"__r{method}__")(self, other), other, self)
    return forward, reflected


class _Arithmetic:
    """Arithmetic that keeps the source (see the module's docstring)."""

    source: tuple
    _base: type

    def __new__(cls, value, source: tuple):
        made = cls._base.__new__(cls, value)
        made.source = source
        return made

    def __reduce__(self):  # pickled (to a worker process) with its source
        return (type(self), (self._base(self), self.source))

    __add__, __radd__ = _binary("add", "add")
    __sub__, __rsub__ = _binary("sub", "sub")
    __mul__, __rmul__ = _binary("mul", "mul")
    __truediv__, __rtruediv__ = _binary("div", "truediv")

    def __neg__(self):
        return sourced(self._base.__neg__(self), ("op", "neg", self.source))

    def __abs__(self):
        return sourced(self._base.__abs__(self), ("op", "abs", self.source))

    def __round__(self, digits=None):
        if digits == 2:
            return sourced(self._base.__round__(self, 2), ("op", "round2", self.source))
        return self._base.__round__(self, digits) if digits is not None else (
            self._base.__round__(self))


class Sourced(_Arithmetic, float):
    """A float with its source."""

    _base = float


class SourcedInt(_Arithmetic, int):
    """A whole number with its source (a parameter count)."""

    _base = int


def sourced(value: Any, source: tuple) -> Any:
    """``value`` with ``source``; None and non-numbers pass as they are."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return SourcedInt(value, source)
    if isinstance(value, float):
        return Sourced(value, source)
    return value


def source_of(value: object) -> tuple | None:
    """The source of a value, None for a bare number."""
    return value.source if isinstance(value, Sourced | SourcedInt) else None


def runs_key(records) -> tuple[tuple[str, int], ...]:
    """The ``runs`` of a statistic's source: each record's model and seed, sorted."""
    return tuple(sorted((str(r["model_id"]), int(r["seed"])) for r in records))


def stat(value: float, name: str, records) -> Any:
    """``value``, a statistic of ``records`` named ``name`` (:data:`STATISTICS`)."""
    if name not in STATISTICS:
        raise ValueError(f"unknown statistic {name!r}")
    return sourced(value, ("stat", name, runs_key(records)))


def epoch_value(record: dict, epoch: dict, field: str) -> Any:
    return sourced(epoch[field], ("epoch", record["model_id"], record["seed"], epoch["epoch"],
                                  field))


def constant(value: Any, name: str) -> Any:
    return sourced(value, ("constant", name))


def sourced_json(data: Any, file: str, path: tuple = (), skip: frozenset = frozenset()) -> Any:
    """A copy of JSON ``data`` read from ``file`` (relative to the results folder) whose
    every number carries ``("json", file, its key path)``; keys in ``skip`` are kept as
    they are (large traces no page prints)."""
    if isinstance(data, dict):
        return {key: value if key in skip else sourced_json(value, file, (*path, key), skip)
                for key, value in data.items()}
    if isinstance(data, list):
        return [sourced_json(value, file, (*path, index), skip)
                for index, value in enumerate(data)]
    return sourced(data, ("json", file, path))


__all__ = ["STATISTICS", "Sourced", "SourcedInt", "constant", "epoch_value", "runs_key",
           "source_of", "sourced", "sourced_json", "stat"]

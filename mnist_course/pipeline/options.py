"""What a build is asked to do, as a typed value: :class:`BuildOptions`.

The command line (:mod:`mnist_course.cli`, the only module that knows argparse) turns
``--no-train``, ``--seeds 0,1,2`` and the rest into one of these; anything else that
builds a course constructs it from keyword arguments named like the options
(``BuildOptions(no_train=True, seeds=(0, 1))``). It checks itself when made: a
contradiction or a bad value is one :class:`UsageError` line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnist_course.errors import UsageError
from mnist_course.store.runs import Preview

DEVICES = ("auto", "cpu", "cuda")


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` (or ``"0 1 2"``) as sorted distinct seeds; :class:`ValueError` otherwise."""
    try:
        seeds = tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise ValueError(f"expected seeds like 0,1,2, got {text!r}") from None
    if not seeds or any(seed < 0 for seed in seeds):
        raise ValueError(f"expected seeds >= 0 like 0,1,2, got {text!r}")
    return tuple(sorted(set(seeds)))


@dataclass(frozen=True)
class BuildOptions:
    """Every option of a build (``scripts/build_report.py`` and ``mnist-course build``)."""

    only: tuple[str, ...] | None = None  # train only these models (pages show every model)
    retrain: bool = False  # retrain the selected runs even when current
    no_train: bool = False  # never train or measure; render from what exists
    seeds: tuple[int, ...] | None = None  # seeds for the multi-seed models
    data_dir: str | None = None  # folder holding MNIST/raw/
    device: str = "auto"  # cpu, cuda, cuda:N or auto
    jobs: int | None = None  # trainings side by side (default: one per core on the CPU)
    no_notebook: bool = False  # never execute the reuse notebook
    epochs: int | None = None  # a quick preview: every run trains this many epochs
    train_subset: int | None = None  # a quick preview: every run trains on N images
    progress: bool | None = None  # a bar of the runs; None: on a terminal only

    def __post_init__(self) -> None:
        if self.no_train and self.retrain:
            raise UsageError("--no-train and --retrain contradict each other; pick one")
        if self.only is not None:
            if isinstance(self.only, str) or not all(isinstance(m, str) for m in self.only):
                raise UsageError(f"only must be model ids, like ('s3_final',), not {self.only!r}")
            object.__setattr__(self, "only", tuple(self.only))
        if self.seeds is not None:
            if (isinstance(self.seeds, (str, bytes)) or not self.seeds
                    or not all(isinstance(s, int) and s >= 0 for s in self.seeds)):
                raise UsageError(f"seeds must be whole numbers >= 0, like (0, 1, 2), not "
                                 f"{self.seeds!r}")
            object.__setattr__(self, "seeds", tuple(sorted(set(self.seeds))))
        for name in ("jobs", "epochs", "train_subset"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UsageError(f"--{name.replace('_', '-')} must be a whole number >= 1, "
                                 f"not {value!r}")
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            raise UsageError(f"unknown device {self.device!r}: use cpu, cuda or auto")

    @property
    def preview(self) -> Preview | None:
        """The quick preview these options ask for, or None for the full recipes."""
        if self.epochs or self.train_subset:
            return Preview(self.epochs, self.train_subset)
        return None

    @property
    def measure_skip(self) -> str | None:
        """The option that forbids measuring anything, if any."""
        return "--no-train" if self.no_train else None

    @property
    def notebook_skip(self) -> str | None:
        """The option that forbids executing the reuse notebook, if any."""
        return self.measure_skip or ("--no-notebook" if self.no_notebook else None)


@dataclass(frozen=True)
class BuildPaths:
    """Where one build reads and writes, and how its children find the course."""

    results_dir: Path
    docs_dir: Path
    course_file: str | None = None  # None: the built-in course
    preview: Preview | None = None
    project_dir: Path | None = None  # set: also write mkdocs.yml and WRITEUP.md there
    # Train in the build's own process, one run at a time: the course exists only in
    # memory (its classes in a notebook's cells), so a child process could not import it.
    in_process: bool = False


__all__ = ["DEVICES", "BuildOptions", "BuildPaths", "parse_seeds"]

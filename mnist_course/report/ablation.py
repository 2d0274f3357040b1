"""The final model's ablation, as its step's overview shows it.

Two tables over the same seeds (those the final model and every row ran): the chain built
up from the step before (each model with one change more, against the model before it and
against the chain's start), and the final model with each of those changes left out in
turn (the course's ``ablation``, a sweep whose runs are under ``<results>/sweep/``). The
first says what each change added when it came; the second what it is worth in the final
model, where the others are already there. Torch-free: it reads stored runs only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnist_course.course.definition import Course, CourseModel
from mnist_course.report.model_results import ModelResults
from mnist_course.store.sweep_runs import load_candidate_runs
from mnist_course.summary import Comparison, SeedsSummary, compare_seeds, summarize_seeds


@dataclass(frozen=True)
class AblationRow:
    title: str  # the chain model's title, or the change left out, in words
    model: CourseModel | None  # the chain's course model (its page), None for a left-out row
    seeds: SeedsSummary  # its runs on the shared seeds
    versus_final: Comparison  # this row minus the final model
    versus_before: Comparison | None = None  # a chain row minus the one before it
    versus_start: Comparison | None = None  # a chain row minus the chain's start
    undoes: str | None = None  # a left-out row: the chain model whose change it leaves out


@dataclass(frozen=True)
class AblationView:
    step: int  # whose overview shows it: the final model's step
    seeds: list[int]  # the seeds every row shares with the final model
    final: SeedsSummary  # the final model on those seeds
    built_up: list[AblationRow]
    left_out: list[AblationRow]
    waiting: list[str]  # rows left out for lack of runs on the final model's seeds

    def leaving_out(self, model_id: str) -> AblationRow | None:
        """The left-out row that undoes this chain model's change."""
        return next((row for row in self.left_out if row.undoes == model_id), None)


def chain_to_final(models: list[ModelResults], final: ModelResults) -> list[ModelResults]:
    """The final model's ``previous`` links back through its step, to the last model of the
    step before (the chain's start), in training order."""
    by_id = {r.model.id: r for r in models}
    chain, current = [], final
    while current is not None:
        chain.insert(0, current)
        if current.model.step != final.model.step:
            break
        current = by_id.get(current.model.previous)
    return chain


def ablation_view(course: Course, models: list[ModelResults], results_dir: Path
                  ) -> AblationView | None:
    """The ablation of ``course.final``, or None when the course has none or the final
    model has no runs."""
    final = next((r for r in models if r.model.id == course.final), None)
    if course.ablation is None or final is None or not final.trained:
        return None
    chain_results = chain_to_final(models, final)
    chain = [r.model for r in chain_results]
    records = {r.model.id: r.records for r in chain_results}
    for candidate in course.ablation.candidates:
        records[candidate.id] = load_candidate_runs(results_dir, course.ablation, candidate)
    final_seeds = {r["seed"] for r in final.records}
    complete = {key: runs for key, runs in records.items()
                if final_seeds <= {r["seed"] for r in runs}}
    waiting = [key for key in records if key not in complete]
    shared = sorted(final_seeds)

    def on_shared(key: str) -> SeedsSummary:
        return summarize_seeds([r for r in complete[key] if r["seed"] in final_seeds])

    final_summary = on_shared(course.final)
    names = ("this model", "the final model")
    built_up: list[AblationRow] = []
    # A chain with a gap would start or step from the wrong model: shown whole or not at all.
    if all(model.id in complete for model in chain):
        for model in chain:
            summary = on_shared(model.id)
            before = built_up[-1].seeds if built_up else None
            start = built_up[0].seeds if built_up else None
            built_up.append(AblationRow(
                model.title, model, summary, compare_seeds(summary, final_summary, names),
                compare_seeds(summary, before, ("this model", "the model before"))
                if before is not None else None,
                compare_seeds(summary, start, ("this model", "the chain's start"))
                if start is not None else None))
    left_out = []
    for candidate in course.ablation.candidates:
        if candidate.id in complete:
            summary = on_shared(candidate.id)
            left_out.append(AblationRow(candidate.change, None, summary,
                                        compare_seeds(summary, final_summary, names),
                                        undoes=candidate.undoes))
    return AblationView(final.model.step, shared, final_summary, built_up, left_out, waiting)


__all__ = ["AblationRow", "AblationView", "ablation_view", "chain_to_final"]

"""The results store: where every run and measurement lives on disk, and whether it is
current.

Owns the files (:mod:`.files`: paths, the ``metrics.json`` schema, atomic writes, weights,
the build lock), a run's identity and state (:mod:`.runs`: its cache key, current or
stale, which seeds a build trains), a design sweep's runs (:mod:`.sweep_runs`) and the
Concepts pages' build-time measurements (:mod:`.concept_measures`).

Reads and writes JSON (torch only to read and write weights files). May import
:mod:`mnist_course.course` (recipes and cache keys) and the assignment's terms; never
training, the pipeline or the report.
"""

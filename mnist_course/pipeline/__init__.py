"""The build pipeline, in the order it runs: plan, train, measure, load, render.

Owns the builder every course uses (:mod:`.builder`) and what it is asked to do
(:mod:`.options`), training a build's pending runs in child processes (:mod:`.jobs`), what
a build measures after training (:mod:`.measure`: architecture summaries,
:mod:`.measure_architecture`; the Concepts pages, :mod:`.measure_concepts`; the "Try it"
page's models, :mod:`.try_it_exports` with :mod:`.browser_export`), ``mc.build`` from
Python (:mod:`.python_api`) and the starter project ``mnist-course new`` writes
(:mod:`.starter`).

The top of the layers: may import every other folder. Torch is imported only by a stage
that needs it, so a ``--no-train`` build runs without it.
"""

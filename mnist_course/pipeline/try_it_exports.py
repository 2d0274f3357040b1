"""The "Try it" page's models, exported for the browser from their stored seed-0 weights.

A build calls :func:`refresh_try_it` after loading the runs and before rendering: each model
the page offers (:func:`mnist_course.report.try_it.choose_models`) gets
``docs/try-it/models/<id>.json``, the program :mod:`mnist_course.pipeline.browser_export` reads from
one forward pass. The file carries a key of what it was made from (the weights file's bytes
and the exporter's code); while that key holds, nothing is exported again and torch is not
imported, so a ``--no-train`` build with current exports runs without torch. Exporting is
not training: it happens in a ``--no-train`` build too, whenever an export is stale.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mnist_course.errors import ResultsError
from mnist_course.report.render import Site
from mnist_course.report.site import WriteLog, write_if_changed
from mnist_course.report.try_it import (
    ASSETS,
    MODELS_DIR,
    TRY_IT_DIR,
    TryItData,
    TryItModel,
    choose_models,
    step_fields,
)
from mnist_course.store.files import dump_json, read_json, weights_path

EXPORT_FORMAT = 1
EXPORTER = Path(__file__).resolve().parent / "browser_export.py"
ASSET_SOURCE = Path(__file__).resolve().parent.parent / "report" / "assets"


def export_key(weights: Path) -> str:
    """What an export is made from: the weights file and the exporter's own code."""
    digest = hashlib.sha256(Path(weights).read_bytes())
    digest.update(EXPORTER.read_bytes())
    digest.update(str(EXPORT_FORMAT).encode())
    return digest.hexdigest()[:16]


def stored_export(path: Path, key: str) -> dict | None:
    """The export at ``path`` when it was made from ``key``; None when missing or stale."""
    try:
        record = read_json(path)
    except ResultsError:
        return None
    return record if isinstance(record, dict) and record.get("key") == key else None


def _export(model, weights: Path) -> dict:
    """A fresh export (imports torch); a model that cannot be built or loaded is a reason."""
    from mnist_course.pipeline.browser_export import export_model

    try:
        return export_model(model.network(), weights)
    except (ResultsError, RuntimeError) as exc:  # a weights file that does not fit the model
        return {"runnable": False, "reason": f"its stored weights do not load: {exc}"}


def refresh_try_it(site: Site, results_dir: Path, docs_dir: Path, every_model: bool,
                   log: WriteLog) -> tuple[TryItData, str]:
    """Export the page's models where stale, write the page's script and style, remove
    exports of models the page no longer offers; the page's data and one line saying what
    was done."""
    folder = Path(docs_dir) / TRY_IT_DIR
    for name in ASSETS:
        write_if_changed(folder / name, (ASSET_SOURCE / name).read_bytes(), log)
    data, exported, missing_torch = TryItData(every_model=every_model), [], ""
    for results, roles in choose_models(site.models, site.course.final, every_model):
        model_id = results.model.id
        weights = weights_path(results_dir, model_id, 0)
        path = folder / MODELS_DIR / f"{model_id}.json"
        if not weights.exists():
            data.models.append(TryItModel(results, roles, "its seed-0 weights are not stored"))
            continue
        key = export_key(weights)
        record = stored_export(path, key)
        if record is None:
            try:
                record = _export(results.model, weights)
            except ImportError as exc:
                missing_torch = f" (not exported: {exc}; install torch and build again)"
                data.models.append(TryItModel(results, roles, "not exported for the browser: "
                                              "torch is not installed where the site was built"))
                continue
            record.update(key=key, model_id=model_id, format=EXPORT_FORMAT)
            write_if_changed(path, dump_json(record).encode("utf-8"), log)
            exported.append(model_id)
        reason = None if record.get("runnable") else str(record.get("reason"))
        fields = step_fields(results.architecture, record["steps"]) if reason is None else None
        data.models.append(TryItModel(results, roles, reason, fields))
    offered = {f"{m.results.model.id}.json" for m in data.models}
    if (folder / MODELS_DIR).is_dir():
        for path in sorted((folder / MODELS_DIR).glob("*.json")):
            if path.name not in offered:
                path.unlink()
                log.removed.append(path)
    line = (f"try it: {len(data.runnable)} model(s) run in the browser, "
            f"{len(data.not_runnable)} named with a reason; exported: "
            f"{', '.join(exported) or 'none (all current)'}{missing_torch}")
    return data, line


__all__ = ["EXPORT_FORMAT", "export_key", "refresh_try_it", "stored_export"]

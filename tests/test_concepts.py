"""The Concepts pages: ideas derived from the models, worked numbers equal to the stored
rows, links both ways, formulas rendered to MathML, build-time measurements replayed
exactly as training drew them."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import markdown
import pytest
import torch
from conftest import read_mkdocs_yml
from report_fixtures import REPO, copy_fixture_results, copy_rendered_docs, render

from mnist_course.course.recipe import averaging_decay
from mnist_course.models import COURSE, FINAL_MODEL_ID, get_model
from mnist_course.models.blocks import Conv, GlobalAvgPool, MaxPool
from mnist_course.report.concepts import (
    CONCEPTS,
    averaging_schedule,
    concept_page,
    concepts_of_change,
    concepts_used,
    field_before_pooling,
    introduced_by,
    paired_seeds,
    recalibration_summary,
    removed_by,
    separable_blocks,
    training_steps,
    worked_parameters,
    worked_receptive_field,
)
from mnist_course.report.mathml import FormulaError, tex_to_mathml
from mnist_course.report.model_results import load_results
from mnist_course.report.paths import model_page
from mnist_course.report.render import relative
from mnist_course.store.concept_measures import check_model, concepts_path, recalibration_key
from mnist_course.store.files import read_json, write_json

STORED = REPO / "results"
CONCEPT_BY_SLUG = {concept.slug: concept for concept in CONCEPTS}


def stored_architecture(model_id: str) -> dict:
    path = STORED / model_id / "architecture.json"
    if not path.exists():
        pytest.skip(f"{path} is not stored")
    return read_json(path)


# ----------------------------------------------------------------------------------------
# Worked examples against the stored architecture rows


@pytest.mark.parametrize("model", COURSE, ids=lambda m: m.id)
def test_receptive_field_recurrences_give_the_stored_rows(model):
    rows = stored_architecture(model.id)["receptive_field"]
    worked = worked_receptive_field(rows)
    assert [(w["size"], w["jump"], w["field"]) for w in worked] == \
        [(r["size_out"], r["jump_out"], r["rf_out"]) for r in rows]
    assert all(w["agrees"] for w in worked)


@pytest.mark.parametrize("model", COURSE, ids=lambda m: m.id)
def test_parameter_formula_gives_the_stored_layer_summary(model):
    architecture = stored_architecture(model.id)
    worked = worked_parameters(model, architecture)
    assert all(w["computed"] == w["params"] for w in worked), model.id
    assert sum(w["computed"] for w in worked) == architecture["total_params"]


def test_a_wrong_stored_row_is_flagged_not_hidden():
    row = {"kernel": 3, "stride": 1, "padding": 0, "dilation": 2, "size_in": 28,
           "size_out": 26, "jump_in": 1, "jump_out": 1, "rf_in": 1, "rf_out": 3}
    (worked,) = worked_receptive_field([row])
    assert (worked["effective"], worked["size"], worked["field"]) == (5, 24, 5)
    assert not worked["agrees"]


def test_depthwise_and_bias_follow_the_layer_spec():
    model = dataclasses.replace(get_model(FINAL_MODEL_ID), architecture=(
        Conv(4), Conv(8, depthwise=True, batch_norm=True), GlobalAvgPool(),
        Conv(10, kernel=1, relu=False)))
    architecture = {
        "receptive_field": [{"name": "c1", "kernel": 3}, {"name": "c2", "kernel": 3},
                            {"name": "c3", "kernel": 1}],
        "layers": [{"name": "c1", "kind": "Conv2d", "output_shape": [4, 26, 26], "params": 40},
                   {"name": "c2", "kind": "Conv2d", "output_shape": [8, 24, 24], "params": 72},
                   {"name": "b2", "kind": "BatchNorm2d", "output_shape": [8, 24, 24],
                    "params": 16},
                   {"name": "c3", "kind": "Conv2d", "output_shape": [10, 1, 1], "params": 90}],
    }
    worked = worked_parameters(model, architecture)
    assert [w["computed"] for w in worked] == [40, 72, 16, 90]
    assert [w.get("bias") for w in worked] == [4, 0, None, 10]


# ----------------------------------------------------------------------------------------
# Which model uses which idea, from its layers and recipe


def slugs(model) -> set[str]:
    return {c.slug for c in concepts_used(model)}


def test_ideas_are_read_from_layers_and_recipe():
    skeleton, final = get_model("s1_skeleton"), get_model(FINAL_MODEL_ID)
    assert {"receptive-field", "parameters", "transition", "gap"} <= slugs(skeleton)
    assert not slugs(skeleton) & {"batch-norm", "dropout", "augmentation", "one-cycle",
                                  "weight-decay", "bn-recalibration"}
    assert {"batch-norm", "augmentation", "one-cycle", "weight-decay",
            "bn-recalibration"} <= slugs(final)
    assert "dropout" not in slugs(final)
    plain = dataclasses.replace(skeleton, architecture=(Conv(8), MaxPool(),
                                                        Conv(10, kernel=12, relu=False)))
    assert "transition" not in slugs(plain)


def changed(model_id: str) -> set[str]:
    model = get_model(model_id)
    return {c.slug for c in concepts_of_change(
        model, get_model(model.previous) if model.previous else None)}


def test_a_model_page_links_the_ideas_its_change_touches():
    # the first model has nothing to change: it is built from every idea it uses
    assert changed("s1_skeleton") == slugs(get_model("s1_skeleton"))
    # a change of the recipe alone touches its one idea
    assert changed("s3_augment") == {"augmentation"}
    assert changed("s3_final") == {"bn-recalibration"}
    assert changed("s3_averaged") == {"weight-averaging"}
    assert changed("s3_separable") == {"one-cycle"}  # only the cycle's length changed
    # an idea dropped is a change too
    assert changed("s3_no_dropout") == {"dropout"}
    # narrower layers change the parameters, not the receptive field
    assert changed("s3_lean") == {"parameters"}
    # separable pairs: 1x1 convolutions added, the same 3x3 windows, so the field is
    # untouched; batch norm stays as it was on every layer
    depthwise = changed("s3_depthwise")
    assert {"depthwise-separable", "parameters", "transition"} <= depthwise
    assert not depthwise & {"receptive-field", "batch-norm", "one-cycle"}
    # the identity start changes how the depthwise convolutions begin
    assert changed("s3_identity") == {"depthwise-separable"}
    # no step-3 page links every idea it uses any more
    step3 = [m for m in COURSE if m.step == 3]
    assert all(len(changed(m.id)) < len(slugs(m)) for m in step3)


def test_the_weight_average_warm_up_is_the_engines():
    assert averaging_decay(0.999, 1) == pytest.approx(2 / 11)
    assert averaging_decay(0.5, 100) == 0.5
    schedule = averaging_schedule(0.999, 469, 15)
    assert schedule["first"] == pytest.approx(2 / 11)
    # (1 + n) / (10 + n) >= 0.999 first at n = 8990, past the 15 x 469 = 7035 updates
    assert schedule["reached_at"] == 8990 and not schedule["reached"]
    assert averaging_decay(0.999, 8989) < 0.999 <= averaging_decay(0.999, 8990)
    assert schedule["last"] == pytest.approx(7036 / 7045)
    assert schedule["last_span"] == pytest.approx(7045 / 9)  # (10 + n) / 9
    short = averaging_schedule(0.9, 469, 1)
    assert short["reached_at"] == 80 and short["reached"] and short["last"] == 0.9
    assert training_steps(get_model("s3_averaged")) == 469  # 60,000 images, batches of 128


def test_separable_pairs_count_and_see_what_full_convolutions_would():
    model = dataclasses.replace(get_model(FINAL_MODEL_ID), architecture=(
        Conv(4, batch_norm=True), Conv(4, depthwise=True, batch_norm=True),
        Conv(6, kernel=1, batch_norm=True), GlobalAvgPool(), Conv(10, kernel=1, relu=False)))
    rf = [{"name": name, "kind": kind, "kernel": k, "stride": 1, "padding": 0, "dilation": 1,
           "size_in": s, "size_out": s - k + 1, "jump_in": 1, "jump_out": 1, "rf_in": f,
           "rf_out": f + k - 1}
          for name, kind, k, s, f in (("c1", "Conv2d", 3, 28, 1), ("c2", "Conv2d", 3, 26, 3),
                                      ("c3", "Conv2d", 1, 24, 5),
                                      ("gap", "AdaptiveAvgPool2d", 24, 24, 5),
                                      ("c4", "Conv2d", 1, 1, 28))]
    layers = [{"name": "c1", "kind": "Conv2d", "output_shape": [4, 26, 26], "params": 36},
              {"name": "b1", "kind": "BatchNorm2d", "output_shape": [4, 26, 26], "params": 8},
              {"name": "c2", "kind": "Conv2d", "output_shape": [4, 24, 24], "params": 36},
              {"name": "b2", "kind": "BatchNorm2d", "output_shape": [4, 24, 24], "params": 8},
              {"name": "c3", "kind": "Conv2d", "output_shape": [6, 24, 24], "params": 24},
              {"name": "b3", "kind": "BatchNorm2d", "output_shape": [6, 24, 24], "params": 12},
              {"name": "c4", "kind": "Conv2d", "output_shape": [10, 1, 1], "params": 70}]
    architecture = {"receptive_field": rf, "layers": layers}
    (block,) = separable_blocks(model, architecture)
    assert (block["c"], block["c_out"], block["kernel"]) == (4, 6, 3)
    assert (block["depthwise_weights"], block["pointwise_weights"]) == (36, 24)  # 9*4, 4*6
    assert (block["separable"], block["full"]) == (60, 216)  # 9*4*6
    assert block["share"] == pytest.approx(100 * (1 / 6 + 1 / 9))
    assert (block["field_in"], block["field_depthwise"], block["field_out"]) == (3, 5, 5)
    assert block["agrees"]
    assert field_before_pooling(architecture) == 5
    layers[2]["params"] = 35  # a stored count the formula does not give is flagged
    assert not separable_blocks(model, architecture)[0]["agrees"]


def test_the_course_separable_pairs_keep_the_tiny_models_field():
    architecture = stored_architecture("s3_depthwise")
    blocks = separable_blocks(get_model("s3_depthwise"), architecture)
    assert blocks and all(b["agrees"] and b["field_out"] == b["field_depthwise"]
                          for b in blocks)
    assert field_before_pooling(architecture) == field_before_pooling(
        stored_architecture("s3_tiny"))


def test_paired_seeds_are_the_shared_ones_from_unrounded_means():
    course = {r.model.id: r for r in load_results(COURSE, STORED)}
    averaged, final = course["s3_averaged"], course["s3_final"]
    if not (averaged.trained and final.trained):
        pytest.skip("the averaged and final models are not both stored")
    rows = paired_seeds(averaged, final)
    shared = {r["seed"] for r in averaged.records} & {r["seed"] for r in final.records}
    assert [row["seed"] for row in rows] == sorted(shared)
    for row in rows:
        assert row["difference"] == pytest.approx(row["current"] - row["previous"])
        assert row["current_spread"] >= 0 and row["previous_spread"] >= 0


def test_the_optimizer_decays_batch_norm_and_the_classifier_too():
    """The weight-decay page says the decay reaches batch norm's scale and shift and the
    classifier's bias: the engine hands every trained parameter to one decayed group."""
    from mnist_course.training.engine import make_optimizer

    model = get_model(FINAL_MODEL_ID)
    network = model.network()
    optimizer = make_optimizer(network, model.recipe)
    assert model.recipe.weight_decay > 0
    decayed = {id(p) for group in optimizer.param_groups if group["weight_decay"]
               == model.recipe.weight_decay for p in group["params"]}
    norms = [m for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(id(m.weight) in decayed and id(m.bias) in decayed for m in norms)
    assert decayed == {id(p) for p in network.parameters()}


def test_the_nav_lists_every_idea_under_its_own_title():
    nav = read_mkdocs_yml(REPO / "mkdocs.yml")["nav"]
    section = next(item["Concepts"] for item in nav if isinstance(item, dict)
                   and "Concepts" in item)
    entries = {path: title for entry in section for title, path in entry.items()}
    assert entries.pop("concepts/index.md")
    assert entries == {concept_page(c): c.title for c in CONCEPTS}


def test_each_idea_is_introduced_where_the_course_adds_it():
    course = load_results(COURSE, STORED)
    expected = {"batch-norm": ("s2_batchnorm", "s1_lightest"),
                "dropout": ("s2_dropout", "s2_batchnorm"),
                "augmentation": ("s3_augment", "s2_capacity"),
                "one-cycle": ("s3_onecycle", "s3_augment"),
                "weight-averaging": ("s3_averaged", "s3_final"),
                "depthwise-separable": ("s3_depthwise", "s3_tiny")}
    for slug, ids in expected.items():
        current, previous = introduced_by(CONCEPT_BY_SLUG[slug], course)
        assert (current.model.id, previous.model.id) == ids, slug
    current, previous = removed_by(CONCEPT_BY_SLUG["dropout"], course)
    assert previous.model.id == "s3_onecycle" and not current.model.architecture[0].dropout


def test_recalibration_summary_means_and_weights():
    record = {"momentum": 0.1, "replayed_batches": 100, "recalibration_images": 10_000,
              "recalibration_batch": 2000,
              "seeds": [{"seed": 0, "running_accuracy": 99.40, "recalibrated_accuracy": 99.50,
                         "recorded_last_epoch_accuracy": 99.50},
                        {"seed": 1, "running_accuracy": 99.46, "recalibrated_accuracy": 99.44,
                         "recorded_last_epoch_accuracy": 99.44}]}
    summary = recalibration_summary(record)
    assert summary["running_mean"] == pytest.approx(99.43)
    assert summary["difference"] == pytest.approx(0.04)
    assert (summary["better"], summary["worse"]) == (1, 1)
    assert summary["last20_share"] == pytest.approx(1 - 0.9 ** 20)
    assert summary["recalibration_batches"] == 5 and summary["matches_recorded"]


# ----------------------------------------------------------------------------------------
# The rendered pages


@pytest.fixture(scope="module")
def docs(fixture_site):
    return fixture_site["docs"]


def test_concept_pages_show_the_stored_rows(docs):
    text = (docs / "concepts" / "receptive-field.md").read_text(encoding="utf-8")
    rows = read_json(docs.parent / "results" / FINAL_MODEL_ID / "architecture.json")
    for row in rows["receptive_field"]:
        assert f"= {row['size_out']}$ | ${row['jump_in']} \\cdot {row['stride']} = " \
               f"{row['jump_out']}$ | ${row['rf_in']} + " in text, row["name"]
        assert f"\\cdot {row['jump_in']} = {row['rf_out']}$ |" in text, row["name"]
    assert "disagree" not in text
    params = (docs / "concepts" / "parameters.md").read_text(encoding="utf-8")
    assert f"**{rows['total_params']:,}** | **{rows['total_params']:,}**" in params


def test_model_pages_and_concept_pages_link_both_ways(docs):
    for model in COURSE:
        page = model_page(COURSE, model)
        text = (docs / page).read_text(encoding="utf-8")
        previous = get_model(model.previous) if model.previous else None
        changed = concepts_of_change(model, previous)
        for concept in CONCEPTS:
            link = f"]({relative(page, concept_page(concept))})"
            assert (link in text) == (concept in changed), (model.id, concept.slug)
    for concept in CONCEPTS:
        page = concept_page(concept)
        text = (docs / page).read_text(encoding="utf-8")
        for model in COURSE:
            link = f"]({relative(page, model_page(COURSE, model))})"
            if concept.uses(model):
                assert link in text, (concept.slug, model.id)


def test_missing_measurements_say_how_to_make_them(docs):
    text = (docs / "concepts" / "bn-recalibration.md").read_text(encoding="utf-8")
    assert "Not measured on this machine" in text
    assert "Not drawn on this machine" in (docs / "concepts" / "augmentation.md").read_text()


def test_the_rebuilt_averages_are_checked_on_the_nearest_model_without_recalibration(
        tmp_path):
    final = get_model(FINAL_MODEL_ID)
    assert check_model(tmp_path, COURSE, final) is None
    for model_id in ("s3_onecycle", "s2_batchnorm"):
        (tmp_path / model_id / "seed-0").mkdir(parents=True)
        (tmp_path / model_id / "seed-0" / "weights.pt").write_bytes(b"w")
    assert check_model(tmp_path, COURSE, final).id == "s3_onecycle"
    (tmp_path / "s3_weight_decay" / "seed-0").mkdir(parents=True)
    (tmp_path / "s3_weight_decay" / "seed-0" / "weights.pt").write_bytes(b"w")
    assert check_model(tmp_path, COURSE, final).id == "s3_weight_decay"


def test_a_measurement_renders_and_is_flagged_when_the_weights_change(tmp_path, fixture_site):
    results = tmp_path / "results"
    copy_fixture_results(fixture_site, results)
    final = get_model(FINAL_MODEL_ID)
    weights = results / final.id / "seed-0" / "weights.pt"
    weights.write_bytes(b"first weights")
    seeds = [{"seed": 0, "running_accuracy": 99.31, "recalibrated_accuracy": 99.47,
              "stored_statistics_accuracy": 99.47, "recorded_last_epoch_accuracy": 99.47}]
    record = {"model_id": final.id, "key": recalibration_key(results, COURSE, final),
              "momentum": 0.1,
              "replayed_batches": 100, "batch_size": 128, "recalibration_images": 10_000,
              "recalibration_batch": 2000, "test_count": 10_000, "seeds": seeds,
              "method_check": {"model_id": "s3_onecycle", "seed": 0,
                               "stored_running_accuracy": 99.44,
                               "rebuilt_running_accuracy": 99.43},
              "provenance": {"seconds": 12.5, "device": "cpu", "device_name": "Test CPU",
                             "torch": "2.5.1", "finished_at": "2025-01-01T00:00:00+00:00"}}
    write_json(concepts_path(results), {"format": 1, "bn_recalibration": record})
    docs = copy_rendered_docs(fixture_site, tmp_path / "docs")
    assert render(results, docs) == 0
    page = docs / "concepts" / "bn-recalibration.md"
    text = page.read_text(encoding="utf-8")
    assert "| 0 | 99.31 % | 99.47 % | +0.16 points |" in text
    assert "Measured on older weights" not in text and "exactly the one its run" in text
    assert re.search(r"those give\s+99\.44 %, the rebuilt ones 99\.43 %", text)
    weights.write_bytes(b"retrained weights")
    assert render(results, docs) == 0
    assert "Measured on older weights" in page.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------------
# Formulas


def test_latex_becomes_mathml():
    html = tex_to_mathml(r"r_{\text{out}} = r_{\text{in}} + (k - 1)\, j", display=True)
    assert html.startswith("<math") and 'display="block"' in html and "<msub>" in html
    with pytest.raises(FormulaError, match="fix its LaTeX"):
        tex_to_mathml(r"\frac{1}{")


def test_markdown_extension_renders_inline_and_display_math_only():
    md = markdown.Markdown(extensions=["mnist_course.report.mathml", "tables"])
    html = md.convert("Size $n_{\\text{out}} = 26$, *em*, 5 $ and 6 $, `$x$`.\n\n"
                      "$$\nj_{\\text{out}} = j_{\\text{in}} \\cdot s\n$$\n\n"
                      "| a |\n|--|\n| $3 \\cdot 3$ |\n")
    assert html.count("<math") == 3
    assert '<div class="mc-math"><math' in html
    assert "<em>em</em>" in html and "5 $ and 6 $" in html and "<code>$x$</code>" in html


def test_no_generated_page_leaves_a_dollar_outside_code(docs):
    md = markdown.Markdown(extensions=["mnist_course.report.mathml", "tables", "admonition",
                                       "attr_list", "md_in_html", "pymdownx.superfences",
                                       "pymdownx.details"])
    for path in docs.rglob("*.md"):
        html = md.reset().convert(path.read_text(encoding="utf-8"))
        prose = re.sub(r"<(code|pre)>.*?</\1>", "", html, flags=re.DOTALL)
        assert "$" not in prose, path


def test_no_formula_leaves_a_latex_command_in_its_mathml(docs):
    """A command the converter does not know (``\\Big\\lVert``) passes through as text
    inside the MathML; the reader would see the backslash."""
    md = markdown.Markdown(extensions=["mnist_course.report.mathml", "tables"])
    for path in [*docs.glob("concepts/*.md"), *(REPO / "docs" / "concepts").glob("*.md")]:
        html = md.reset().convert(path.read_text(encoding="utf-8"))
        for formula in re.findall(r"<math.*?</math>", html, flags=re.DOTALL):
            assert "\\" not in formula, (path.name, formula[:200])


# ----------------------------------------------------------------------------------------
# Build-time measurements (torch, no MNIST needed)


def tiny_data(n_train: int = 300, n_test: int = 50):
    from mnist_course.training.data import MNISTData

    generator = torch.Generator().manual_seed(1)
    return MNISTData(torch.rand(n_train, 1, 28, 28, generator=generator),
                     torch.randint(0, 10, (n_train,), generator=generator),
                     torch.rand(n_test, 1, 28, 28, generator=generator),
                     torch.randint(0, 10, (n_test,), generator=generator))


def test_replayed_batches_are_the_ones_fit_trained_on(monkeypatch):
    from mnist_course.course.recipe import Augmentation, Recipe
    from mnist_course.pipeline.measure_concepts import last_training_batches
    from mnist_course.training import engine

    seen = []

    def recording(images, theta):
        out = original(images, theta)
        seen.append(out.clone())
        return out

    original = engine.apply_affine
    monkeypatch.setattr(engine, "apply_affine", recording)
    recipe = Recipe(epochs=2, batch_size=64, augmentation=Augmentation(rotation=7.0))
    data = tiny_data()
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 10, 28), torch.nn.Flatten())
    engine.fit(model, recipe, data, seed=3, progress=False)
    replayed = list(last_training_batches(recipe, data, seed=3, count=4))
    assert len(replayed) == 4
    for got, expected in zip(replayed, seen[-4:], strict=True):
        assert torch.equal(got, expected)


def test_measurements_are_skipped_with_a_reason(tmp_path):
    from mnist_course.pipeline.measure_concepts import refresh_concept_measures

    lines = refresh_concept_measures(COURSE, tmp_path / "results", tmp_path / "docs",
                                     str(tmp_path / "no-mnist"))
    assert lines[0].endswith("no stored weights of s3_final; not measured")
    assert "MNIST is not on this machine" in lines[1]
    assert not Path(tmp_path / "docs").exists() or not any((tmp_path / "docs").iterdir())


def test_augmentation_figure_is_drawn_from_the_given_digits(tmp_path):
    from mnist_course.course.recipe import Augmentation
    from mnist_course.pipeline.measure_concepts import class_examples, draw_augmentation_figure

    data = tiny_data()
    examples = class_examples(data)
    assert examples.shape == (10, 1, 28, 28)
    assert [int(data.train_labels[(data.train_images == e).all(dim=(1, 2, 3))][0])
            for e in examples] == list(range(10))
    path = draw_augmentation_figure(data, Augmentation(rotation=7.0), tmp_path / "a.png")
    assert path.read_bytes().startswith(b"\x89PNG")

"""Step 1 — get the structure right.

No tricks yet: plain convolutions and ReLUs, one max-pool, a 1x1 "transition" that
squeezes channels after it, and a classifier kernel as big as the last feature map.
The models shrink step by step towards the parameter budget, so we learn what the
structure alone can do before batch norm, dropout and GAP arrive in step 2.
"""

from __future__ import annotations

from mnist_course.course.definition import CourseModel
from mnist_course.course.recipe import Recipe
from mnist_course.models.blocks import (
    Conv,
    MaxPool,
    classifier,
    convs,
    in_words,
    map_before,
    walk,
    widths,
)
from mnist_course.models.seeds import THREE_SEEDS

# Every model of step 1 and 2 trains with this plain recipe; step 3 changes it.
PLAIN_SGD = Recipe(
    epochs=15,
    batch_size=128,  # images per step
    optimizer="sgd",
    lr=0.01,  # constant
    momentum=0.9,
)

SKELETON_LAYERS = (
    Conv(16), Conv(32),  # 28 -> 26 -> 24, receptive field 5
    MaxPool(),  # 24 -> 12
    Conv(16, kernel=1),  # transition: 32 -> 16 channels, field unchanged
    Conv(16), Conv(32),  # 12 -> 10 -> 8
    Conv(10, kernel=1),  # 10 channels, one per digit
    Conv(10, kernel=8, relu=False),  # the big classifier kernel: 8x8 map -> 1x1 logits
)


def layout(spec) -> str:
    """The structure in words, from the layers: "two 3x3 convolutions, a max-pool at a
    receptive field of 5x5, ..."."""
    before, after = convs(spec, 3, after_pool=False), convs(spec, 3, after_pool=True)
    pool = next(p for p in walk(spec) if isinstance(p.layer, MaxPool))
    ones = convs(spec, 1, after_pool=True)
    last = classifier(spec)
    side = map_before(spec, last)
    squeezed = walk(spec)[pool.index - 1].layer.out_channels
    return (f"{in_words(len(before))} 3x3 convolutions, a max-pool at a receptive field of "
            f"{before[-1].field}x{before[-1].field} (where MNIST strokes start to form edges), "
            f"a 1x1 transition that squeezes {squeezed} channels to "
            f"{ones[0].layer.out_channels}, "
            f"{in_words(len(after))} more 3x3 convolutions and {in_words(len(ones) - 1)} more "
            f"1x1 convolution{'s' if len(ones) > 2 else ''} to {ones[-1].layer.out_channels} "
            f"channels, then a classifier kernel of {last.layer.kernel}x{last.layer.kernel} "
            f"that covers the whole {side}x{side} map")


SKELETON = CourseModel(
    id="s1_skeleton",
    step=1,
    seeds=THREE_SEEDS,
    title="The skeleton",
    target=(
        "Get the whole pipeline working end to end: data, training loop, test every epoch.",
        f"Lay out the structure the course keeps: {layout(SKELETON_LAYERS)}.",
        "No budget yet: we want to see that the structure learns, not that it is small.",
    ),
    architecture=SKELETON_LAYERS,
    recipe=PLAIN_SGD,
    analysis="""
The skeleton learns: over {{ seeds.count|plural('seed') }} its last five epochs average
{{ seeds.mean_last5|pct }}. Its {{ seeds.range_last5_means|points }} of noise is the course's first
yardstick: every later model's change is held against spreads like it. It has {{ m.params|count }} parameters, {{ (m.params / budget.params)|round(1) }} times the
budget of {{ budget.params|count }}.
{% if seeds.gap_mean > budget.overfit_gap %}
Training accuracy ends {{ seeds.gap_mean|points }} above test accuracy on average: with this much
capacity the network starts to memorise the training set, so shrinking it should cost little.
{% else %}
Training and test accuracy end within {{ seeds.gap_mean|abs|pts }} of each other on average, so the
model is not memorising yet; the capacity is simply more than the task needs.
{% endif %}
{% if seeds.all_pass %}It already holds the {{ budget.accuracy|pct }} bar in every last epoch on every seed (lowest
{{ seeds.worst_last5|pct }}), but it is far over budget.
{% else %}The lowest of its last five epochs over all seeds is {{ seeds.worst_last5|pct }}:
{% if seeds.worst_last5 < budget.accuracy %}not the {{ budget.accuracy|pct }} the assignment asks for,
{% endif %}and it is far over budget either way.{% endif %}
Next we keep the structure and cut the width.
""",
)

LIGHTER_LAYERS = (
    Conv(8), Conv(16),
    MaxPool(),
    Conv(8, kernel=1),
    Conv(16), Conv(16),
    Conv(10, kernel=1),
    Conv(10, kernel=8, relu=False),
)

LIGHTER = CourseModel(
    id="s1_lighter",
    step=1,
    seeds=THREE_SEEDS,
    title="Halve the channels",
    target=(
        "Keep the skeleton's structure exactly; narrow its 3x3 convolutions from "
        f"{widths(convs(SKELETON_LAYERS, 3))} to {widths(convs(LIGHTER_LAYERS, 3))} channels "
        f"and its 1x1 transition from {widths(convs(SKELETON_LAYERS, 1)[:1])} to "
        f"{widths(convs(LIGHTER_LAYERS, 1)[:1])}.",
        "Expect a small accuracy cost for a large parameter saving.",
    ),
    architecture=LIGHTER_LAYERS,
    recipe=PLAIN_SGD,
    previous="s1_skeleton",
    analysis="""
Narrowing the channels took the model from {{ prev.params|count }} to {{ m.params|count }}
parameters ({{ (100 * (prev.params - m.params) / prev.params)|round|int }} % fewer).
The mean of the last five epochs over {{ compare.seeds|plural('seed') }}
{{ prev_seeds.mean_last5|from_to(seeds.mean_last5) }} ({{ compare.difference|pts }}), {{ compare|noise_words }}.
{% if compare.lower %}
That is a visible price, as the Target expected: the narrower network has less room for stroke patterns.
{% elif compare.higher %}
The Target expected a small cost; the narrower model scored higher instead, so the expectation is
not borne out: the skeleton's extra width was not helping.
{% else %}
The Target expected a small cost; none can be told apart from chance: most of the skeleton's width
was unused.
{% endif %}
Look at where the parameters are now: the 8x8 classifier kernel alone holds
{{ m.classifier_params|count }} of them ({{ (100 * m.classifier_params / m.params)|round|int }} %).
That kernel, not the feature extractor, is what the next model attacks.
""",
)

LIGHTEST_LAYERS = (
    Conv(8), Conv(12),
    MaxPool(),
    Conv(8, kernel=1),
    Conv(12), Conv(12), Conv(16),  # 12 -> 10 -> 8 -> 6
    Conv(10, kernel=1),
    Conv(10, kernel=6, relu=False),  # 6x6 map -> 1x1 logits
)
_MAP_BEFORE = map_before(LIGHTER_LAYERS, classifier(LIGHTER_LAYERS))
_MAP_AFTER = map_before(LIGHTEST_LAYERS, classifier(LIGHTEST_LAYERS))

LIGHTEST = CourseModel(
    id="s1_lightest",
    step=1,
    seeds=THREE_SEEDS,
    title="A smaller classifier kernel",
    target=(
        "Shrink the expensive classifier kernel: one more 3x3 convolution after the pool "
        f"({in_words(len(convs(LIGHTEST_LAYERS, 3, after_pool=True)))} instead of "
        f"{in_words(len(convs(LIGHTER_LAYERS, 3, after_pool=True)))}) brings the last map "
        f"from {_MAP_BEFORE}x{_MAP_BEFORE} to {_MAP_AFTER}x{_MAP_AFTER}, so the classifier "
        f"kernel, as big as the map, becomes {_MAP_AFTER}x{_MAP_AFTER}.",
        f"Stay near the budget with 3x3 widths {widths(convs(LIGHTEST_LAYERS, 3))} instead of "
        f"{widths(convs(LIGHTER_LAYERS, 3))}.",
    ),
    architecture=LIGHTEST_LAYERS,
    recipe=PLAIN_SGD,
    previous="s1_lighter",
    analysis="""
With {{ m.params|count }} parameters ({{ prev.params|previously(m.params, 'count') }}) the last five epochs average
{{ seeds.mean_last5|pct }} over {{ seeds.count|plural('seed') }} ({{ compare.difference|pts }} against the previous
model, {{ compare|noise_words }}).
The classifier kernel still holds {{ m.classifier_params|count }} parameters,
{{ (100 * m.classifier_params / m.params)|round|int }} % of the model.
{% if seeds.all_pass %}Every seed holds the bar of {{ budget.accuracy|pct }}.{% else %}The bar of {{ budget.accuracy|pct }} does not
hold: the lowest of the last five epochs over all seeds is {{ seeds.worst_last5|pct }}.{% endif %}
After the first epoch this plain network tests at {{ seeds.first_test_mean|pct }} on average; step 2 adds
batch normalisation and compares the start, before cutting anything further.
""",
)

MODELS = (SKELETON, LIGHTER, LIGHTEST)

"""Step 1 — get the structure right.

No tricks yet: plain convolutions and ReLUs, one max-pool, a 1x1 "transition" that
squeezes channels after it, and a classifier kernel as big as the last feature map.
The models shrink step by step towards the parameter budget, so we learn what the
structure alone can do before batch norm, dropout and GAP arrive in step 2.
"""

from __future__ import annotations

from ..course import CourseModel
from ..recipe import Recipe
from .blocks import Conv, MaxPool
from .seeds import THREE_SEEDS

# Every model of step 1 and 2 trains with this plain recipe; step 3 changes it.
PLAIN_SGD = Recipe(
    epochs=15,
    batch_size=128,  # images per step
    optimizer="sgd",
    lr=0.01,  # constant
    momentum=0.9,
)

SKELETON = CourseModel(
    id="s1_skeleton",
    step=1,
    seeds=THREE_SEEDS,
    title="The skeleton",
    target=(
        "Get the whole pipeline working end to end: data, training loop, test every epoch.",
        "Lay out the structure the course keeps: two 3x3 convolutions, a max-pool at a "
        "receptive field of 5x5 (where MNIST strokes start to form edges), a 1x1 transition "
        "that squeezes channels, three more 3x3 convolutions, then a classifier kernel that "
        "covers the whole 8x8 map.",
        "No budget yet: we want to see that the structure learns, not that it is small.",
    ),
    architecture=(
        Conv(16), Conv(32),  # 28 -> 26 -> 24, receptive field 5
        MaxPool(),  # 24 -> 12
        Conv(16, kernel=1),  # transition: 32 -> 16 channels, field unchanged
        Conv(16), Conv(32),  # 12 -> 10 -> 8
        Conv(10, kernel=1),  # 10 channels, one per digit
        Conv(10, kernel=8, relu=False),  # the big classifier kernel: 8x8 map -> 1x1 logits
    ),
    recipe=PLAIN_SGD,
    analysis="""
The skeleton learns: over {{ seeds.count|plural('seed') }} its last five epochs average
{{ seeds.mean_last5|pct }}, and the seeds land up to {{ seeds.range_last5_means|points }} apart
from each other — that spread is the run-to-run noise every later comparison is measured
against. It has {{ m.params|count }} parameters, {{ (m.params / budget.params)|round(1) }} times the
budget of {{ budget.params|count }}.
{% if seeds.gap_mean > budget.overfit_gap %}
Training accuracy ends {{ seeds.gap_mean|pts }} above test accuracy on average: with this much
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

LIGHTER = CourseModel(
    id="s1_lighter",
    step=1,
    seeds=THREE_SEEDS,
    title="Halve the channels",
    target=(
        "Keep the skeleton's structure exactly; halve the width of every 3x3 convolution.",
        "Expect a small accuracy cost for a large parameter saving.",
    ),
    architecture=(
        Conv(8), Conv(16),
        MaxPool(),
        Conv(8, kernel=1),
        Conv(16), Conv(16),
        Conv(10, kernel=1),
        Conv(10, kernel=8, relu=False),
    ),
    recipe=PLAIN_SGD,
    previous="s1_skeleton",
    analysis="""
Halving the channels took the model from {{ prev.params|count }} to {{ m.params|count }}
parameters ({{ (100 * (prev.params - m.params) / prev.params)|round|int }} % fewer).
The mean of the last five epochs over {{ compare.seeds|plural('seed') }} moved from {{ prev_seeds.mean_last5|pct }} to
{{ seeds.mean_last5|pct }} ({{ compare.difference|pts }}), {{ compare|noise_words }}.
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

LIGHTEST = CourseModel(
    id="s1_lightest",
    step=1,
    seeds=THREE_SEEDS,
    title="A smaller classifier kernel",
    target=(
        "Shrink the expensive classifier kernel: one more 3x3 convolution brings the last "
        "map from 8x8 to 6x6, so the classifier becomes 6x6.",
        "Trim the early channels (16 -> 12) to stay near the budget.",
    ),
    architecture=(
        Conv(8), Conv(12),
        MaxPool(),
        Conv(8, kernel=1),
        Conv(12), Conv(12), Conv(16),  # 12 -> 10 -> 8 -> 6
        Conv(10, kernel=1),
        Conv(10, kernel=6, relu=False),  # 6x6 map -> 1x1 logits
    ),
    recipe=PLAIN_SGD,
    previous="s1_lighter",
    analysis="""
With {{ m.params|count }} parameters (was {{ prev.params|count }}) the last five epochs average
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

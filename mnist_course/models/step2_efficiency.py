"""Step 2 — make it efficient.

Batch normalisation makes training fast and stable, dropout narrows the gap between
train and test, and global average pooling (GAP) replaces the classifier kernel that
held about 40 % of the parameters. The budget freed by GAP is then spent on one more
convolution, where it buys receptive field.
"""

from __future__ import annotations

from mnist_course.course.definition import CourseModel
from mnist_course.models.blocks import (
    Conv,
    GlobalAvgPool,
    MaxPool,
    before_gap,
    classifier,
    convs,
    in_words,
    widths,
    with_batch_norm,
    with_dropout,
)
from mnist_course.models.seeds import COURSE_SEEDS, THREE_SEEDS
from mnist_course.models.step1_structure import LIGHTEST, PLAIN_SGD

DROPOUT = 0.05  # per hidden convolution; tiny networks cannot afford more

BATCH_NORM = CourseModel(
    id="s2_batchnorm",
    step=2,
    seeds=THREE_SEEDS,
    title="Batch normalisation",
    target=(
        "Add batch normalisation after every hidden convolution of the lightest step-1 "
        "model; nothing else changes (the convolutions before BN drop their bias).",
        "Expect much faster early epochs and a higher ceiling.",
    ),
    architecture=with_batch_norm(LIGHTEST.architecture),
    recipe=PLAIN_SGD,
    previous="s1_lightest",
    analysis="""
{% if seeds.first_test_mean|rounded > prev_seeds.first_test_mean|rounded %}Batch norm gives the network a faster start: test accuracy after epoch 1 is
{{ seeds.first_test_mean|pct }} on average over {{ seeds.count|plural('seed') }}, against {{ prev_seeds.first_test_mean|pct }} without it.{% else %}The first
epoch is no faster with batch norm: after epoch 1 the test accuracy averages {{ seeds.first_test_mean|against(prev_seeds.first_test_mean) }}
{%- if not seeds.first_test_mean|prints_same(prev_seeds.first_test_mean) %} without it{% endif %}, so the Target's faster start is not borne out.{% endif %}
Over the last five epochs the model averages {{ seeds.mean_last5|pct }}
({{ compare.difference|pts }}, {{ compare|noise_words }}), for {{ (m.params - prev.params)|count }} extra
parameters (a scale and a shift per channel; the removed biases pay for part of it).
{% if not compare.higher %}The higher ceiling the Target expected is not borne out on these seeds.{% endif %}
{% if seeds.gap_mean > budget.overfit_gap %}
But training accuracy now ends at {{ seeds.final_train_mean|pct }} on average, {{ seeds.gap_mean|pts }} above test:
the network fits the training set faster than it generalises. That gap is dropout's job.
{% else %}
Training accuracy ({{ seeds.final_train_mean|pct }} on average) stays close to test accuracy, so there is
little over-fitting for dropout to remove; we add it anyway to see what it costs.
{% endif %}
""",
)

DROPOUT_MODEL = CourseModel(
    id="s2_dropout",
    step=2,
    seeds=THREE_SEEDS,
    title="Dropout",
    target=(
        f"Add dropout (p = {DROPOUT}) after every hidden convolution to close the gap between "
        "train and test accuracy.",
        "Same layers, same recipe; dropout adds no parameters.",
    ),
    architecture=with_dropout(BATCH_NORM.architecture, DROPOUT),
    recipe=PLAIN_SGD,
    previous="s2_batchnorm",
    analysis="""
With dropout the final gap between train and test accuracy averages {{ seeds.gap_mean|pts }} over
{{ seeds.count|plural('seed') }}{% if seeds.gap_mean|prints_same(prev_seeds.gap_mean, "pts") %}, as it did without dropout{% else %}; without dropout it was {{ prev_seeds.gap_mean|pts }}{% endif %}.
{% if seeds.gap_mean < prev_seeds.gap_mean %}Dropout did what the Target asked: the training set is harder to memorise.{% else %}
The gap did not shrink, so the Target's expectation is not borne out: over-fitting was not what
held this model back.{% endif %}
Test accuracy over the last five epochs averages {{ seeds.mean_last5|pct }}
({{ compare.difference|pts }}, {{ compare|noise_words }}); the lowest single epoch is {{ seeds.worst_last5|pct }}.
The model still has {{ m.params|count }} parameters, {{ m.classifier_params|count }} of them
in the 6x6 classifier kernel. Global average pooling can take its place for almost nothing.
""",
)

_KERNEL = classifier(DROPOUT_MODEL.architecture).layer.kernel

GAP = CourseModel(
    id="s2_gap",
    step=2,
    seeds=THREE_SEEDS,
    title="Global average pooling",
    target=(
        f"Replace the 1x1 squeeze and the {_KERNEL}x{_KERNEL} classifier kernel with global "
        "average pooling "
        "followed by a 1x1 convolution to the 10 digits.",
        "Expect a large parameter saving and a small accuracy cost: GAP has no weights to "
        "learn spatial patterns with.",
    ),
    architecture=(
        *DROPOUT_MODEL.architecture[:-2],  # every layer up to the 6x6 map
        GlobalAvgPool(),  # (B, 16, 6, 6) -> (B, 16, 1, 1)
        Conv(10, kernel=1, relu=False),  # 16 -> 10 logits
    ),
    recipe=PLAIN_SGD,
    previous="s2_dropout",
    analysis="""
GAP removed {{ (prev.params - m.params)|count }} parameters: the model is down to
{{ m.params|count }}, {{ (100 * m.params / budget.params)|round|int }} % of the budget.
The last five epochs average {{ seeds.mean_last5|pct }} over {{ seeds.count|plural('seed') }}
({{ compare.difference|pts }} against the 6x6 kernel, {{ compare|noise_words }}).
{% if compare.lower %}The Target expected a small cost and this is the cost: the classifier kernel was doing
some useful spatial work. {% elif compare.higher %}The Target expected a small cost; accuracy rose instead, so that
expectation is not borne out: the big kernel was not earning its parameters. {% else %}The small cost the Target expected
cannot be told apart from chance: the big kernel was not earning its parameters. {% endif %}
We now have {{ (budget.params - m.params)|count }} parameters of headroom under the budget:
the next model spends them on one more convolution, where the features are made.
""",
)

CAPACITY_LAYERS = with_dropout(with_batch_norm((
    Conv(8), Conv(12),  # 28 -> 26 -> 24, receptive field 5
    MaxPool(),  # 24 -> 12
    Conv(10, kernel=1),  # transition: 12 -> 10 channels
    Conv(12), Conv(14), Conv(14), Conv(16),  # 12 -> 10 -> 8 -> 6 -> 4, field 22
    GlobalAvgPool(),
    Conv(10, kernel=1, relu=False),
)), DROPOUT)

CAPACITY = CourseModel(
    id="s2_capacity",
    step=2,
    seeds=COURSE_SEEDS,
    title="Capacity back under the budget",
    target=(
        "Spend the parameters GAP freed on capacity: "
        f"{in_words(len(convs(CAPACITY_LAYERS, 3, after_pool=True)))} 3x3 convolutions after "
        f"the pool instead of {in_words(len(convs(GAP.architecture, 3, after_pool=True)))} "
        f"({widths(convs(CAPACITY_LAYERS, 3, after_pool=True))} channels instead of "
        f"{widths(convs(GAP.architecture, 3, after_pool=True))}) shrink the last map from "
        f"{before_gap(GAP.architecture).size}x{before_gap(GAP.architecture).size} to "
        f"{before_gap(CAPACITY_LAYERS).size}x{before_gap(CAPACITY_LAYERS).size} and let every "
        f"output see {before_gap(CAPACITY_LAYERS).field} pixels before GAP instead of "
        f"{before_gap(GAP.architecture).field}, and the 1x1 transition keeps "
        f"{widths(convs(CAPACITY_LAYERS, 1)[:1])} channels instead of "
        f"{widths(convs(GAP.architecture, 1)[:1])}.",
        "Stay under 8,000 parameters with everything else unchanged.",
    ),
    architecture=CAPACITY_LAYERS,
    recipe=PLAIN_SGD,
    previous="s2_gap",
    analysis="""
The extra layer and the wider transition took the model from {{ prev.params|count }} to
{{ m.params|count }} parameters, still under the budget of {{ budget.params|count }}. The last five epochs
average {{ seeds.mean_last5|pct }} over {{ seeds.count|plural('seed') }} ({{ compare.difference|pts }}, {{ compare|noise_words }}).
{% if seeds.all_pass %}It holds the bar in every one of the last five epochs on every seed already (lowest
{{ seeds.worst_last5|pct }}).{% else %}It does not hold the bar yet: the lowest of the last five epochs over all
seeds is {{ seeds.worst_last5|pct }}{% if seeds.passing %}, and it passes on {{ seeds.passing|length }} of {{ seeds.count|plural('seed') }}{% endif %}.{% endif %}
With a constant learning rate each seed's last five epochs spread over
{{ seeds.spread_last5_mean|points }} on average, and training accuracy ends at {{ seeds.final_train_mean|pct }}.
Step 3 works on both: augmentation for the data, a schedule for the learning rate.
""",
)

MODELS = (BATCH_NORM, DROPOUT_MODEL, GAP, CAPACITY)

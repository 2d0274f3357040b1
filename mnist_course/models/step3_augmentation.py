"""Step 3 — augmentation and the learning rate.

The step-2 network is already under budget; what it lacks is training signal and a
calm finish. Small random rotations show it digits it has not seen; a one-cycle
learning-rate schedule climbs fast, then anneals so the last epochs settle instead of
bouncing. The final model tunes the regularisation to the new training and tests the
network with batch-norm statistics recomputed for its current weights.
"""

from __future__ import annotations

import dataclasses

from mnist_course.course.definition import CourseModel
from mnist_course.course.recipe import Augmentation
from mnist_course.models.blocks import (
    Conv,
    GlobalAvgPool,
    MaxPool,
    before_gap,
    convs,
    in_words,
    widths,
    with_batch_norm,
    with_dropout,
    with_widths,
)
from mnist_course.models.seeds import COURSE_SEEDS
from mnist_course.models.step2_efficiency import CAPACITY

# The section after the assignment's three steps: weight averaging and the smaller networks
# train with step 3's recipe, so they are defined here, and shown apart (see beyond.py).
BEYOND = 4
ROTATION = 7.0  # degrees: MNIST digits are written with about this much slant
# L2 penalty per step, scaled by the learning rate (SGD). Every convolution it acts on is
# followed by batch norm, so the size of its weights does not change what the layer
# computes; shrinking them makes each SGD step relatively larger. 1e-3 rather than 5e-4: on
# five seeds each, the final and the lean model both ended higher (the lean one had missed
# the bar on a seed), and a lighter 2e-4 did worse on the lean model's weakest seed.
WEIGHT_DECAY = 1e-3
# Epochs the one-cycle schedule spans; the remaining ones (to 15) hold its final LR. With
# the anneal still running in epochs 11-13 the test accuracy there dipped below the bar.
CYCLE_EPOCHS = 12
# Training images (the first N, not augmented) on which batch norm's statistics are
# recomputed before each test pass of the final models: enough for stable averages, and
# one forward pass over them costs a small part of an epoch.
RECALIBRATION_IMAGES = 10_000

AUGMENT = CourseModel(
    id="s3_augment",
    step=3,
    seeds=COURSE_SEEDS,
    title="Rotation augmentation",
    target=(
        f"Rotate every training image by a random angle in ±{ROTATION:g}°, drawn per image "
        "on the device; same network, same recipe.",
        "Expect training accuracy to fall (harder data) and test accuracy to rise.",
    ),
    architecture=CAPACITY.architecture,
    recipe=dataclasses.replace(CAPACITY.recipe, augmentation=Augmentation(rotation=ROTATION)),
    previous="s2_capacity",
    analysis="""
Augmentation changed the balance between the two curves: training accuracy now ends at
{{ seeds.final_train_mean|pct }} on average over {{ seeds.count|plural('seed') }} ({{ prev_seeds.final_train_mean|previously(seeds.final_train_mean) }}),
{% if seeds.final_train_mean < prev_seeds.final_train_mean %}the fall the Target expected{% else %}so the fall the Target expected is not borne out{% endif %}.
{% if seeds.gap_mean < 0 and prev_seeds.gap_mean < 0 %}Test accuracy is above training accuracy, as it already was without augmentation
(by {{ (-prev_seeds.gap_mean)|points }} then, {{ (-seeds.gap_mean)|points }} now), so the rotated images are not what puts
test above train: dropout, which is active in training and off at test time, already did.
{% elif seeds.gap_mean < 0 %}Test accuracy is now above training accuracy, which it was not without augmentation: the rotated
training images are harder than the real test digits, so the model is far from memorising.{% endif %}
The last five test epochs average {{ seeds.mean_last5|pct }} ({{ compare.difference|pts }}, {{ compare|noise_words }}).
{% if not compare.higher %}The rise in test accuracy the Target expected is not borne out: with a constant learning
rate the last epochs keep moving by {{ seeds.spread_last5_mean|points }} on average, and the harder data
alone does not lift them.{% else %}That is the rise the Target expected.{% endif %}
{% if seeds.all_pass %}Every seed holds the bar.{% else %}The lowest single epoch is {{ seeds.worst_last5|pct }}: every step is as large at
epoch {{ m.epochs }} as at epoch 1, and the next model changes that.{% endif %}
""",
)

ONE_CYCLE = CourseModel(
    id="s3_onecycle",
    step=3,
    seeds=COURSE_SEEDS,
    title="One-cycle learning rate",
    target=(
        "Replace the constant learning rate with a one-cycle schedule: start at 0.01, climb "
        f"to 0.1 over the first 20 % of the cycle, anneal (cosine) to 1e-4 by the end of epoch "
        f"{CYCLE_EPOCHS}, then hold 1e-4 so the last epochs all see a settled network.",
        "Expect faster progress early and steady last epochs.",
    ),
    architecture=AUGMENT.architecture,
    recipe=dataclasses.replace(AUGMENT.recipe, schedule="onecycle", lr=0.1, div_factor=10.0,
                               final_div_factor=100.0, warmup_fraction=0.2,
                               anneal_epochs=CYCLE_EPOCHS),
    previous="s3_augment",
    analysis="""
{% if seeds.spread_last5_mean|rounded < prev_seeds.spread_last5_mean|rounded %}The schedule shows in the last epochs: each seed's last five now spread over
{{ seeds.spread_last5_mean|points }} on average, against {{ prev_seeds.spread_last5_mean|points }} with the constant rate, the steadier finish
the Target expected.{% else %}Each seed's last five epochs spread over {{ seeds.spread_last5_mean|against(prev_seeds.spread_last5_mean, "points") }}
{%- if not seeds.spread_last5_mean|prints_same(prev_seeds.spread_last5_mean, "points") %} with the constant rate{% endif %} on average, so the steadier finish the
Target expected is not borne out.{% endif %}
They average {{ seeds.mean_last5|pct }} over {{ seeds.count|plural('seed') }} ({{ compare.difference|pts }}, {{ compare|noise_words }}).
After epoch 1 the test accuracy is {{ seeds.first_test_mean|pct }} on average ({{ prev_seeds.first_test_mean|previously(seeds.first_test_mean) }}){% if seeds.first_test_mean <= prev_seeds.first_test_mean %}: the
faster early progress the Target expected is not borne out, since the schedule starts at a tenth of its peak{% endif %}.
{% if seeds.all_pass %}Every one of the last five epochs is at or above {{ budget.accuracy|pct }} on all {{ seeds.count|plural('seed') }}.{% else %}The bar
is held on {{ seeds.passing|length }} of {{ seeds.count|plural('seed') }} (lowest single epoch {{ seeds.worst_last5|pct }}).{% endif %}
Training accuracy ends at {{ seeds.final_train_mean|pct }} on average{% if seeds.gap_mean < 0 %}, still below test accuracy{% endif %}.
The next three models change one thing each: dropout, weight decay, and the batch-norm statistics
the test passes use.
""",
)

NO_DROPOUT = CourseModel(
    id="s3_no_dropout",
    step=3,
    seeds=COURSE_SEEDS,
    title="Dropout removed",
    target=(
        f"Remove dropout (p = {CAPACITY.architecture[0].dropout:g} after every convolution "
        "until now); same layers, same one-cycle recipe.",
        "Augmentation already makes the training images harder, and dropout on layers of "
        f"{min(p.layer.out_channels for p in convs(ONE_CYCLE.architecture))} to "
        f"{max(p.layer.out_channels for p in convs(ONE_CYCLE.architecture))} channels adds "
        "noise to every one of them in training. Expect training accuracy to rise and test "
        "accuracy to hold or rise.",
    ),
    architecture=with_dropout(ONE_CYCLE.architecture, 0.0),
    recipe=ONE_CYCLE.recipe,
    previous="s3_onecycle",
    analysis="""
Without dropout, training accuracy ends at {{ seeds.final_train_mean|pct }} on average over {{ seeds.count|plural('seed') }}
({{ prev_seeds.final_train_mean|previously(seeds.final_train_mean) }}), and the last five test epochs average
{{ seeds.mean_last5|against(prev_seeds.mean_last5) }}{% if not seeds.mean_last5|prints_same(prev_seeds.mean_last5) %} with dropout{% endif %}: {{ compare.difference|pts }}, {{ compare|noise_words }}.
{% set rose = seeds.final_train_mean|rounded > prev_seeds.final_train_mean|rounded %}
{% if rose and not compare.lower %}Both halves of the Target's guess come true: the network fits its training images better once
nothing is switched off in training, and test accuracy {% if compare.higher %}even rises{% else %}holds{% endif %}.
{% elif rose %}The network fits its training images better, as the Target guessed, but test accuracy falls by more
than the noise: dropout was still doing useful work.
{% elif not compare.lower %}Test accuracy holds, as the Target guessed, but training accuracy does not rise: without dropout
the rotated digits stay about as hard to fit.
{% else %}Neither half of the Target's guess comes true: training accuracy does not rise and test accuracy
falls by more than the noise.{% endif %}
{% if seeds.all_pass %}Every seed holds the bar (lowest single epoch {{ seeds.worst_last5|pct }}).{% else %}But a mean that holds is not the bar:
{% if seeds.passing %}only {{ seeds.passing|length }} of {{ seeds.count|plural('seed') }} {{ "keeps" if seeds.passing|length == 1 else "keep" }}{% else %}no seed keeps{% endif %} every last epoch above it (lowest single epoch {{ seeds.worst_last5|pct }}){% if prev_seeds.all_pass %},
where the model with dropout kept all of them there{% endif %}.{% endif %}
""",
)

WEIGHT_DECAY_MODEL = CourseModel(
    id="s3_weight_decay",
    step=3,
    seeds=COURSE_SEEDS,
    title="Weight decay",
    target=(
        f"Add weight decay ({WEIGHT_DECAY:g}); same layers, same schedule.",
        "With batch norm after every convolution, the size of the weights does not change "
        "what a layer computes, so decay only shrinks them, and each SGD step becomes "
        "relatively larger: the network keeps learning while the schedule anneals. Expect "
        "higher last epochs.",
    ),
    architecture=NO_DROPOUT.architecture,
    recipe=dataclasses.replace(NO_DROPOUT.recipe, weight_decay=WEIGHT_DECAY),
    previous="s3_no_dropout",
    analysis="""
With weight decay the last five test epochs over {{ seeds.count|plural('seed') }} average
{{ seeds.mean_last5|against(prev_seeds.mean_last5) }}{% if not seeds.mean_last5|prints_same(prev_seeds.mean_last5) %} without it{% endif %}: {{ compare.difference|pts }}, {{ compare|noise_words }}.
{% if compare.higher %}That is the rise the Target expected.{% else %}The Target expected higher last epochs; these seeds do not
bear that out.{% endif %}
Training accuracy ends at {{ seeds.final_train_mean|pct }} on average ({{ prev_seeds.final_train_mean|previously(seeds.final_train_mean) }}).
{% if seeds.all_pass %}Every seed holds the bar (lowest single epoch {{ seeds.worst_last5|pct }}).{% else %}The bar is held on
{{ seeds.passing|length }} of {{ seeds.count|plural('seed') }} (lowest single epoch {{ seeds.worst_last5|pct }}).{% endif %}
""",
)

FINAL = CourseModel(
    id="s3_final",
    step=3,
    title="Final: batch-norm statistics recomputed",
    target=(
        "Test the network that was trained: before each test pass, recompute batch norm's "
        f"mean and variance on {RECALIBRATION_IMAGES:,} training images with the current "
        "weights, instead of the running averages of the last few batches that move from "
        "epoch to epoch. Nothing about training changes.",
        "Meet the assignment on five seeds: under 8,000 parameters, 15 epochs, at least "
        "99.40 % in each of the last five epochs.",
    ),
    architecture=WEIGHT_DECAY_MODEL.architecture,
    recipe=dataclasses.replace(WEIGHT_DECAY_MODEL.recipe, bn_recalibration=RECALIBRATION_IMAGES),
    previous="s3_weight_decay",
    seeds=COURSE_SEEDS,
    analysis="""
Recomputing batch norm's statistics before each test changes nothing about training; it changes
what is tested. On the {{ compare.seeds|plural('seed') }} both models ran, the last five epochs average
{{ compare_current.mean_last5|against(compare_previous.mean_last5) }}{% if not compare_current.mean_last5|prints_same(compare_previous.mean_last5) %} with the running averages{% endif %}:
{{ compare.difference|pts }}, {{ compare|noise_words }}. Each seed's last five epochs now spread over
{% if compare_current.spread_last5_mean|prints_same(compare_previous.spread_last5_mean, "points") %}{{ compare_current.spread_last5_mean|points }} on average, as they did with the running averages.{% else %}{{ compare_current.spread_last5_mean|points }} on average, against {{ compare_previous.spread_last5_mean|points }}.{% endif %}
Across all {{ seeds.count|plural('seed') }} of this model the mean of the last five epochs is
{{ seeds.mean_last5|mean_sd(seeds.sd_last5) }} and the lowest single epoch is {{ seeds.worst_last5|pct }}.
{% if seeds.all_pass %}Every seed meets every requirement with {{ m.params|count }} parameters: this is the
model that solves the assignment.{% else %}{{ seeds.failing|seed_list|capitalize }} {{ "misses" if seeds.failing|length == 1 else "miss" }} a requirement, so the assignment is not met on
every seed yet.{% endif %}
{% if compare_current.first_test_mean - compare_previous.first_test_mean > compare.noise %}Where the recomputed statistics show most is the first epoch: after it the test accuracy
averages {{ compare_current.first_test_mean|against(compare_previous.first_test_mean) }} with the running averages. Early in training
the weights move fast and the running averages, which follow the last batches, lag behind
them; by the last epochs the weights have settled and the two almost agree.{% endif %}
""",
)

# Decay of the weight average: each step moves it 0.1 % of the way to the current weights, so
# it spans about the last 1,000 steps, two epochs of 469.
AVERAGE_DECAY = 0.999

AVERAGED = CourseModel(
    id="s3_averaged",
    step=BEYOND,
    title="Averaged weights",
    target=(
        "Test an average of the recent weights instead of the last ones: after every step, "
        f"move an exponential moving average {100 * (1 - AVERAGE_DECAY):.1f} % of the way to the "
        "current weights, then test (and store) the average, with batch norm's statistics "
        "recomputed for it. Training itself is unchanged.",
        "Expect the last five epochs to move less from one to the next, and a higher mean.",
    ),
    architecture=FINAL.architecture,
    recipe=dataclasses.replace(FINAL.recipe, ema_decay=AVERAGE_DECAY),
    previous="s3_final",
    seeds=COURSE_SEEDS,
    analysis="""
Training is the same as the final model's, step for step; what is tested is the average of
its recent weights. On the {{ compare.seeds|plural('seed') }} both models ran, the mean of the last five
epochs {{ compare_previous.mean_last5|from_to(compare_current.mean_last5) }} with the average in place of the last weights
{%- if compare_previous.mean_last5|prints_same(compare_current.mean_last5) %}, {{ compare|noise_words }}.
{%- else %}: {{ compare.difference|pts }}, {{ compare|noise_words }}.{% endif %}
{% if compare.higher %}That is the higher mean the Target expected.{% else %}The higher mean the Target expected is not borne out.{% endif %}
{% if compare_current.spread_last5_mean|prints_same(compare_previous.spread_last5_mean, 'points') %}Each seed's last five epochs spread over {{ compare_current.spread_last5_mean|points }} on average, as they did with the last weights
{%- else %}Each seed's last five epochs spread over {{ compare_current.spread_last5_mean|points }} on average, against {{ compare_previous.spread_last5_mean|points }} with the last weights{% endif %}
{%- if compare_current.spread_last5_mean|rounded < compare_previous.spread_last5_mean|rounded %}: the steadier finish the Target expected.
{%- else %}, so the steadier finish the Target expected does not show.{% endif %}
The lowest single epoch over its {{ seeds.count|plural('seed') }} is {{ seeds.worst_last5|pct }}
{%- if seeds.all_pass %}, and every seed meets every requirement.{% else %}, and {{ seeds.failing|seed_list }} {{ "misses" if seeds.failing|length == 1 else "miss" }} a requirement.{% endif %}
""",
)

LEAN_LAYERS = with_batch_norm((
    Conv(8), Conv(10),
    MaxPool(),
    Conv(10, kernel=1),
    Conv(10), Conv(12), Conv(12), Conv(14),
    GlobalAvgPool(),
    Conv(10, kernel=1, relu=False),
))

LEAN = CourseModel(
    id="s3_lean",
    step=BEYOND,
    title="Lean: under 6,000 parameters",
    target=(
        "Same recipe as the final model with narrower layers "
        f"({widths(convs(LEAN_LAYERS, 3, after_pool=False))} before the pool, a transition to "
        f"{widths(convs(LEAN_LAYERS, 1)[:1])}, then {widths(convs(LEAN_LAYERS, 3, after_pool=True))}"
        f" instead of {widths(convs(FINAL.architecture, 3, after_pool=False))}, "
        f"{widths(convs(FINAL.architecture, 1)[:1])} and "
        f"{widths(convs(FINAL.architecture, 3, after_pool=True))}), to show how much of the "
        "budget the bar really needs.",
        "At most 6,000 parameters and still at least 99.40 % in each of the last five "
        "epochs, on five seeds.",
    ),
    architecture=LEAN_LAYERS,
    recipe=FINAL.recipe,
    previous="s3_final",
    seeds=COURSE_SEEDS,
    analysis="""
With {{ m.params|count }} parameters ({{ (prev.params - m.params)|count }} fewer than the final
model) the lean network averages {{ seeds.mean_last5|pct }} over the last five epochs of {{ seeds.count|plural('seed') }},
{{ compare.difference|pts }} against the final model, {{ compare|noise_words }}.
{% if seeds.all_pass %}It meets the bar on every seed{% if seeds.worst_last5|rounded == budget.accuracy %}, but with no margin: its weakest epoch, {{ seeds.worst_last5|pct }}, sits exactly on the
bar{% elif seeds.worst_last5 - budget.accuracy < budget.thin_margin %}, but with almost no margin: its weakest epoch, {{ seeds.worst_last5|pct }}, is
{{ (seeds.worst_last5|rounded - budget.accuracy)|points }} above the bar{% else %}; its weakest epoch is {{ seeds.worst_last5|pct }}{% endif %}. Most of what the assignment needs is the training
recipe, not the last parameters.{% else %}Its weakest epoch is {{ seeds.worst_last5|pct }}, and it misses {% if seeds.passing %}on {{ seeds.failing|seed_list }}{% else %}on every seed{% endif %}: below this size the margin
over the bar runs out.{% endif %}
""",
)

# Epochs the one-cycle of the small and separable models spans. With the course's 12 the
# first of the last five epochs (epoch 11) still sits in the anneal; the narrow and
# depthwise models' pages show what that does to the smaller networks.
SHORT_CYCLE_EPOCHS = 11


# The lean layers, with the second and fourth convolution after the pool narrowed.
NARROW_LAYERS = with_widths(LEAN_LAYERS, {5: 10, 7: 12})

NARROW = CourseModel(
    id="s3_narrow",
    step=BEYOND,
    title="Narrow: the lean layers, narrower at the end",
    target=(
        "The lean model with its last layers narrowed: after the pool, "
        f"{widths(convs(NARROW_LAYERS, 3, after_pool=True))} channels instead of "
        f"{widths(convs(LEAN_LAYERS, 3, after_pool=True))}, to find how much of the lean "
        "model's budget the bar needs. Same recipe.",
        "Expect to hold 99.40 % in each of the last five epochs with fewer parameters than "
        "the lean model.",
    ),
    architecture=NARROW_LAYERS,
    recipe=LEAN.recipe,
    previous="s3_lean",
    seeds=COURSE_SEEDS,
    analysis="""
With {{ m.params|count }} parameters, {{ (prev.params - m.params)|count }} fewer than the lean model, the
last five epochs average {{ seeds.mean_last5|pct }} over {{ seeds.count|plural('seed') }}, against the lean model:
{{ compare.difference|pts }}, {{ compare|noise_words }}. No seed's last five epochs dip below {{ seeds.worst_last5|pct }}.
{% if seeds.all_pass %}Every seed keeps the bar, which is what the Target hoped: the lean model's last channels were
spare.{% else %}{% if seeds.passing %}{{ seeds.failing|seed_list|capitalize }} {{ "drops" if seeds.failing|length == 1 else "drop" }} below the bar while the
other {{ seeds.passing|length }} {{ "keeps" if seeds.passing|length == 1 else "keep" }} it{% else %}No seed keeps the bar{% endif %}, so these narrower layers fall short of the Target; the small model
tries them again with a shorter one-cycle.{% endif %}
""",
)

SMALL = CourseModel(
    id="s3_small",
    step=BEYOND,
    title="Small: the narrow model's cycle an epoch shorter",
    target=(
        f"The narrow model with the one-cycle schedule ending after epoch {SHORT_CYCLE_EPOCHS} "
        f"instead of {CYCLE_EPOCHS}, so that the first of the last five epochs sees a settled "
        "network rather than the end of the anneal.",
        "Expect to hold 99.40 % in each of the last five epochs on all five seeds.",
    ),
    architecture=NARROW.architecture,
    recipe=dataclasses.replace(NARROW.recipe, anneal_epochs=SHORT_CYCLE_EPOCHS),
    previous="s3_narrow",
    seeds=COURSE_SEEDS,
    analysis="""
The layers are the narrow model's ({{ m.params|count }} parameters); only the cycle ends an epoch earlier.
On the {{ compare.seeds|plural('seed') }} both models ran, the mean of the last five epochs
{{ compare_previous.mean_last5|from_to(compare_current.mean_last5) }} with the shorter cycle
{%- if compare_previous.mean_last5|prints_same(compare_current.mean_last5) %}, {{ compare|noise_words }}.
{%- else %}: {{ compare.difference|pts }}, {{ compare|noise_words }}.{% endif %} Across its {{ seeds.count|plural('seed') }} the weakest of the last five epochs is {{ seeds.worst_last5|pct }}.
{% if seeds.all_pass %}The shorter cycle does what the Target asked: every seed keeps the bar{% if seeds.worst_last5 - budget.accuracy < budget.thin_margin %}, though only just, its weakest epoch
{{ (seeds.worst_last5|rounded - budget.accuracy)|points }} above it{% endif %}.{% else %}{% if seeds.passing %}The bar is kept on {{ seeds.passing|length }} of {{ seeds.count|plural('seed') }} and
missed on {{ seeds.failing|seed_list }}{% else %}Not one of its {{ seeds.count|plural('seed') }} keeps the bar{% endif %}, so the Target's hope is not met: ending the
cycle an epoch earlier does not lift every last epoch of these layers above the bar.{% endif %}
{% if final_seeds %}Set beside the final model, which averages {{ final_seeds.mean_last5|pct }} over {{ final_seeds.count|plural('seed') }}, it
{{ final_seeds.mean_last5|mean_gap(seeds.mean_last5) }}.{% endif %}
""",
)


TINY_LAYERS = with_batch_norm((
    Conv(6), Conv(8),  # 28 -> 26 -> 24, receptive field 5
    MaxPool(),  # 24 -> 12
    Conv(8, kernel=1),  # transition
    Conv(8), Conv(10), Conv(10), Conv(10),  # 12 -> 10 -> 8 -> 6 -> 4, field 22
    GlobalAvgPool(),
    Conv(10, kernel=1, relu=False),
))

TINY = CourseModel(
    id="s3_tiny",
    step=BEYOND,
    title="Tiny: under 4,000 parameters",
    target=(
        "How small can the network go? The lean model's layers, narrowed again to stay under "
        f"4,000 parameters: {widths(convs(TINY_LAYERS, 3, after_pool=False))} before the pool "
        "(the first layers see only strokes and edges, so they need the fewest channels), "
        f"a 1x1 transition to {widths(convs(TINY_LAYERS, 1)[:1])}, then "
        f"{widths(convs(TINY_LAYERS, 3, after_pool=True))} after the pool; the same "
        f"{in_words(len(convs(TINY_LAYERS, 3, after_pool=True)))} 3x3 convolutions there keep the "
        f"receptive field at {before_gap(TINY_LAYERS).field} pixels before GAP.",
        "Same recipe as the lean and final models: nothing else changes, so the page shows "
        "what the last 2,000 parameters bought.",
        "Expect to hold 99.40 % in each of the last five epochs on all five seeds; the lean "
        "model held it with no margin, so this is a real test, not a formality.",
    ),
    architecture=TINY_LAYERS,
    recipe=LEAN.recipe,
    previous="s3_lean",
    seeds=COURSE_SEEDS,
    analysis="""
With {{ m.params|count }} parameters ({{ (prev.params - m.params)|count }} fewer than the lean model) the
last five epochs average {{ seeds.mean_last5|pct }} over {{ seeds.count|plural('seed') }}:
{{ compare.difference|pts }} against the lean model, {{ compare|noise_words }}.
{% if seeds.all_pass %}Every seed keeps the bar, its weakest epoch at {{ seeds.worst_last5|pct }}: the Target's test is passed.{% else %}Its weakest epoch is {{ seeds.worst_last5|pct }},
and {% if seeds.passing %}only {{ seeds.passing|length }} of {{ seeds.count|plural('seed') }} {{ "keeps" if seeds.passing|length == 1 else "keep" }} the bar; {{ seeds.failing|seed_list }} {{ "misses" if seeds.failing|length == 1 else "miss" }} it{% else %}it misses the bar
on all {{ seeds.count|plural('seed') }}{% endif %}. This was the real test the Target set, and the tiny network fails it: the
margin the lean model had (none to spare) is gone, and the assignment is not met consistently.{% endif %}
{% if compare.lower %}The parameters the lean model has on top of these bought a measurable
{{ (-compare.difference)|points }} of test accuracy.{% endif %}
{% if final_seeds %}Against the final model ({{ final_seeds.mean_last5|pct }} over {{ final_seeds.count|plural('seed') }}, lowest single epoch
{{ final_seeds.worst_last5|pct }}) it {{ final_seeds.mean_last5|mean_gap(seeds.mean_last5) }}{% if final_seeds.all_pass and not seeds.all_pass %}
and the margin that keeps every last epoch above the bar{% endif %}.{% endif %}
{% if seeds.final_train_mean|rounded < prev_seeds.final_train_mean|rounded %}On the training images it ends at {{ seeds.final_train_mean|pct }} on average, against
{{ prev_seeds.final_train_mean|pct }} for the lean model: the smaller network fits the rotated training
digits less well, which is the capacity it lost.{% else %}On the training images it ends at {{ seeds.final_train_mean|against(prev_seeds.final_train_mean) }}{% if not seeds.final_train_mean|prints_same(prev_seeds.final_train_mean) %} for the lean model{% endif %}
on average: the smaller network fits the rotated training digits no worse.{% endif %}
""",
)


def separable(in_channels: int, out_channels: int) -> tuple[Conv, Conv]:
    """A depthwise-separable 3x3 convolution: one 3x3 kernel per input channel, then a 1x1
    convolution that mixes the channels (9 C + C C' weights instead of 9 C C')."""
    return Conv(in_channels, depthwise=True), Conv(out_channels, kernel=1)


DEPTHWISE = CourseModel(
    id="s3_depthwise",
    step=BEYOND,
    title="Depthwise-separable convolutions, under 4,000 parameters",
    target=(
        "Spend fewer than 4,000 parameters on width instead of full kernels: every 3x3 "
        "convolution after the first becomes depthwise-separable (a 3x3 kernel per channel, "
        "then a 1x1 convolution that mixes the channels), which pays for wider layers than "
        "the tiny model's. The first convolution stays a full one: it has a single input "
        "channel. No 1x1 transition after the pool: every separable block already ends in a "
        "1x1 convolution that mixes the channels. Same recipe.",
        "Expect to hold 99.40 % in each of the last five epochs, where the tiny model held "
        "it on no seed.",
    ),
    architecture=with_batch_norm((
        Conv(8), *separable(8, 16),  # 28 -> 26 -> 24
        MaxPool(),  # 24 -> 12
        *separable(16, 24), *separable(24, 24), *separable(24, 24),  # 12 -> 10 -> 8 -> 6
        *separable(24, 26),  # 6 -> 4
        GlobalAvgPool(),
        Conv(10, kernel=1, relu=False),
    )),
    recipe=TINY.recipe,
    previous="s3_tiny",
    seeds=COURSE_SEEDS,
    analysis="""
With {{ m.params|count }} parameters, {{ (m.params - prev.params)|count }} more than the tiny model, the
last five epochs average {{ seeds.mean_last5|pct }} over {{ seeds.count|plural('seed') }}, against the tiny model:
{{ compare.difference|pts }}, {{ compare|noise_words }}.
{% if seeds.all_pass %}The separable layers do what the Target asked: every seed keeps the bar, its weakest epoch at
{{ seeds.worst_last5|pct }}.{% else %}The weakest epoch over its seeds is {{ seeds.worst_last5|pct }}: {% if seeds.passing %}{{ seeds.passing|length }} of {{ seeds.count|plural('seed') }} {{ "keeps" if seeds.passing|length == 1 else "keep" }} the bar
and {{ seeds.failing|seed_list }} {{ "falls" if seeds.failing|length == 1 else "fall" }} short{% else %}none of its {{ seeds.count|plural('seed') }} keeps the bar{% endif %}, less than the Target expected. Wider layers alone
are not enough; the separable model keeps them and ends the one-cycle an epoch earlier.{% endif %}
""",
)

SEPARABLE = CourseModel(
    id="s3_separable",
    step=BEYOND,
    title="Separable: the depthwise model's cycle an epoch shorter",
    target=(
        f"The depthwise-separable model with the one-cycle schedule ending after epoch "
        f"{SHORT_CYCLE_EPOCHS} instead of {CYCLE_EPOCHS}, so that the first of the last five "
        "epochs sees a settled network.",
        "Expect to hold 99.40 % in each of the last five epochs on all five seeds.",
    ),
    architecture=DEPTHWISE.architecture,
    recipe=dataclasses.replace(DEPTHWISE.recipe, anneal_epochs=SHORT_CYCLE_EPOCHS),
    previous="s3_depthwise",
    seeds=COURSE_SEEDS,
    analysis="""
The layers are the depthwise model's ({{ m.params|count }} parameters); only the cycle ends an epoch earlier.
On the {{ compare.seeds|plural('seed') }} both models ran, the mean of the last five epochs
{{ compare_previous.mean_last5|from_to(compare_current.mean_last5) }} with the shorter cycle
{%- if compare_previous.mean_last5|prints_same(compare_current.mean_last5) %}, {{ compare|noise_words }}.
{%- else %}: {{ compare.difference|pts }}, {{ compare|noise_words }}.{% endif %} The lowest of any seed's last five epochs is {{ seeds.worst_last5|pct }}.
{% if seeds.all_pass %}With the earlier end of the cycle every seed keeps the bar, as the Target expected.{% else %}{% if seeds.passing %}The bar holds
on {{ seeds.passing|length }} of {{ seeds.count|plural('seed') }}, not on {{ seeds.failing|seed_list }}{% else %}The bar holds
on none of its {{ seeds.count|plural('seed') }}{% endif %}: at this size the shorter cycle falls short of its Target, and this
design does not meet the assignment on every seed either.{% endif %}
The training digits end at {{ seeds.final_train_mean|pct }} accuracy on average.
{% if final_seeds %}The final model averages {{ final_seeds.mean_last5|pct }} over {{ final_seeds.count|plural('seed') }}; this one
{{ final_seeds.mean_last5|mean_gap(seeds.mean_last5) }}.{% endif %}
""",
)

IDENTITY_START = CourseModel(
    id="s3_identity",
    step=BEYOND,
    title="Identity start: the separable model's depthwise convolutions begin as the identity",
    target=(
        "The separable model's layers and recipe with one change to where training starts: "
        f"each of its {in_words(len([layer for layer in SEPARABLE.architecture if isinstance(layer, Conv) and layer.depthwise]))} "
        "depthwise 3x3 convolutions begins as the identity (its centre tap 1, so every "
        "channel passes through unchanged) plus the He noise every convolution begins with. "
        "A block then starts by passing the image on and learns a change to it; the "
        "parameter count stays the separable model's.",
        "Expect to hold 99.40 % in each of the last five epochs on all five seeds, where the "
        "separable model missed on one. The design sweep of levers that change the network "
        "found this one (the network-levers sweep on the Design sweeps page).",
    ),
    architecture=tuple(dataclasses.replace(layer, identity_init=True)
                       if isinstance(layer, Conv) and layer.depthwise else layer
                       for layer in SEPARABLE.architecture),
    recipe=SEPARABLE.recipe,
    previous="s3_separable",
    seeds=COURSE_SEEDS,
    analysis="""
The layers and the {{ m.params|count }} parameters are the separable model's; only the depthwise convolutions' starting
weights differ. On the {{ compare.seeds|plural('seed') }} both models ran, the mean of the last five epochs
{{ compare_previous.mean_last5|from_to(compare_current.mean_last5) }} with the identity start
{%- if compare_previous.mean_last5|prints_same(compare_current.mean_last5) %}, {{ compare|noise_words }}.
{%- else %}: {{ compare.difference|pts }}, {{ compare|noise_words }}.{% endif %}
{% if seeds.all_pass %}Every seed now keeps the bar, as the Target expected, with {{ m.params|count }} parameters{% if seeds.worst_last5|prints_same(budget.accuracy) %}, but with no margin: its weakest epoch over all {{ seeds.count|plural('seed') }} is {{ seeds.worst_last5|pct }}, exactly the bar{% else %}; its weakest epoch over all {{ seeds.count|plural('seed') }} is {{ seeds.worst_last5|pct }}{% endif %}.
{% if prev_seeds.failing %}The separable model, the same layers started from noise alone, missed on {{ prev_seeds.failing|seed_list }}; with the
identity start no seed misses{% if compare.within_noise %}. The mean moved by less than the noise, though, so
the identity start tipped the seeds that were just short rather than lifting the whole model{% endif %}.{% endif %}{% else %}Its weakest epoch over all {{ seeds.count|plural('seed') }} is {{ seeds.worst_last5|pct }}, and {% if seeds.passing %}only {{ seeds.passing|length }} of {{ seeds.count|plural('seed') }} {{ "keeps" if seeds.passing|length == 1 else "keep" }} the bar; {{ seeds.failing|seed_list }} {{ "misses" if seeds.failing|length == 1 else "miss" }} it{% else %}no seed keeps the bar{% endif %}: the identity start does not deliver what the Target expected.{% endif %}
{% if final_seeds %}Compared with the final model, {{ final_seeds.mean_last5|pct }} over {{ final_seeds.count|plural('seed') }}, it
{{ final_seeds.mean_last5|mean_gap(seeds.mean_last5) }}.{% endif %}
""",
)


MODELS = (AUGMENT, ONE_CYCLE, NO_DROPOUT, WEIGHT_DECAY_MODEL, FINAL)
BEYOND_MODELS = (AVERAGED, LEAN, NARROW, SMALL, TINY, DEPTHWISE, SEPARABLE, IDENTITY_START)

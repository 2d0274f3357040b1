"""The design sweeps of step 3: what was tried on the way to the models on the site.

Each candidate changes one thing of a course model (or of an earlier candidate) and is
run on the course's five seeds, the base model's weakest seeds first; the site's "Design
sweep" page shows every candidate with each seed's lowest and mean of the last five epochs,
so a reader sees the search and not only its winner. Train with
``python scripts/sweep.py SWEEP_ID``.
"""

from __future__ import annotations

import dataclasses

from mnist_course.assignment import ACCURACY_BAR, LAST_EPOCHS, PARAM_BUDGET
from mnist_course.course.recipe import Augmentation
from mnist_course.course.sweep import Sweep, candidate
from mnist_course.models.blocks import Conv, Layer, MaxPool, spec_parameters
from mnist_course.models.step3_augmentation import (
    AVERAGE_DECAY,
    AVERAGED,
    FINAL,
    ROTATION,
    SEPARABLE,
    TINY,
)

# Label smoothing: the share of the target moved evenly onto the other nine digits.
SMOOTHING = 0.1
# Translation beside rotation: a shift of up to this fraction of the image per axis.
SHIFT = 0.1
# Scale beside rotation: a zoom by a factor of up to 1 ± this.
ZOOM = 0.1
# A higher one-cycle peak than the course's 0.1: larger steps while the network is far off.
PEAK_LR = 0.2
# Adam as train_mnist_fast sets it up (99 % after one epoch there): a short memory of the
# gradient (beta1) and of its square (beta2), and a peak learning rate of 0.01.
ADAM = {"optimizer": "adam", "lr": 0.01, "beta1": 0.7, "beta2": 0.9}
ADAM_WORDS = (f"Adam (betas {ADAM['beta1']:g}, {ADAM['beta2']:g}, peak {ADAM['lr']:g}) "
              "in place of SGD")
# The one-cycle over all 15 epochs (anneal_epochs 0) instead of ending it early: the course
# ended it early so the last epochs would be steady, which the weight average may do instead.
FULL_CYCLE_WORDS = f"the one-cycle over all {AVERAGED.recipe.epochs} epochs, not ended early"


def peak_words(base) -> str:
    return f"a one-cycle peak of {PEAK_LR:g} instead of {base.recipe.lr:g}"


AVERAGING_LEVER = ("weight averaging", (
    f"test an exponential moving average of the weights instead of the last ones; with decay "
    f"{AVERAGE_DECAY:g} each step moves it {1 - AVERAGE_DECAY:.1%} of the way to the current "
    "weights, so it remembers roughly the last 1 / (1 − decay) steps and smooths their "
    "step-to-step jitter"))
TRAINING_LEVERS = (
    AVERAGING_LEVER,
    ("label smoothing", (
        f"the target gives {1 - SMOOTHING:g} to the true digit and {SMOOTHING:g} spread over the "
        "other nine, so the loss stops rewarding ever more confident scores")),
    ("batch 64", "twice as many optimizer steps per epoch, each noisier, on the same images"),
    ("translation and scale", "more kinds of variation in the training images beside the "
     "rotation: a small shift, or a small zoom"),
    ("a higher peak", "larger steps in the middle of the one-cycle, while the network is "
     "still far from where it ends"),
    ("Adam", (
        f"a step size per weight from running averages of the gradient and of its square; "
        f"beta1 {ADAM['beta1']:g} remembers about the last {1 / (1 - ADAM['beta1']):.0f} "
        f"gradients, beta2 {ADAM['beta2']:g} about the last {1 / (1 - ADAM['beta2']):.0f} "
        "squares, short memories that follow a fast schedule")),
    ("the full cycle", "the one-cycle anneals until the last epoch instead of ending early "
     "and holding its final learning rate"),
)

# The under-4,000 sweeps' goal: fewer than this many parameters.
PARAMETER_LIMIT = 4000
# The averaging sweep's goal: the five seeds' last-5 means averaging at least this (percent).
MEAN_GOAL = 99.60
UNDER_LIMIT_HOLDING = (f"A network under {PARAMETER_LIMIT:,} parameters that holds "
                       f"{ACCURACY_BAR:.2f} % in each of the last {LAST_EPOCHS} epochs on "
                       "seeds 0-4")

SEP_AVERAGED = candidate(SEPARABLE, "sep_averaged", f"weights averaged (decay {AVERAGE_DECAY:g})",
                         ema_decay=AVERAGE_DECAY)

UNDER_4000 = Sweep(
    id="under_4000",
    title=f"Under {PARAMETER_LIMIT:,} parameters on all five seeds",
    goal=(f"{UNDER_LIMIT_HOLDING}. Each candidate changes one thing of the separable model or "
          "of the tiny model."),
    # The separable model's weakest seeds first: 1 (it missed), then 0, 3.
    seed_order=(1, 0, 3, 2, 4),
    parameter_limit=PARAMETER_LIMIT,
    levers=(*TRAINING_LEVERS, ("a 5x5 first layer", "the first convolution sees a 5x5 patch "
                               "instead of 3x3, more of each stroke at once")),
    candidates=(
        SEP_AVERAGED,
        candidate(SEPARABLE, "sep_smoothing", f"label smoothing {SMOOTHING:g}",
                  label_smoothing=SMOOTHING),
        candidate(SEPARABLE, "sep_batch64", "batch 64 instead of 128 (twice the steps)",
                  batch_size=64),
        candidate(SEPARABLE, "sep_shift", f"translation ±{SHIFT:.0%} beside the rotation",
                  augmentation=Augmentation(rotation=ROTATION, translate=SHIFT)),
        candidate(SEPARABLE, "sep_zoom", f"scale ±{ZOOM:.0%} beside the rotation",
                  augmentation=Augmentation(rotation=ROTATION, scale=ZOOM)),
        candidate(SEPARABLE, "sep_peak", peak_words(SEPARABLE), lr=PEAK_LR),
        candidate(SEPARABLE, "sep_adam", ADAM_WORDS, **ADAM),
        candidate(SEP_AVERAGED.model, "sep_averaged_full_cycle", FULL_CYCLE_WORDS,
                  anneal_epochs=0),
        candidate(TINY, "tiny_5x5", "a 5x5 first convolution instead of 3x3",
                  architecture=(dataclasses.replace(TINY.architecture[0], kernel=5),
                                *TINY.architecture[1:])),
    ),
)

MEAN_99_60 = Sweep(
    id="mean_99_60",
    title=f"Five seeds averaging {MEAN_GOAL:.2f} %",
    goal=(f"A network under {PARAM_BUDGET:,} parameters whose seeds' last-{LAST_EPOCHS} means "
          f"average at least {MEAN_GOAL:.2f} % over seeds 0-4. The first candidate is the "
          "averaged-weights model (its runs are the course's); the others change one thing "
          "of it."),
    seed_order=(1, 0, 3, 2, 4),
    stop_at_first_failure=False,
    mean_goal=MEAN_GOAL,
    levers=TRAINING_LEVERS,
    candidates=(
        candidate(FINAL, "final_averaged", f"weights averaged (decay {AVERAGE_DECAY:g})",
                  ema_decay=AVERAGE_DECAY),
        candidate(AVERAGED, "averaged_shift", f"translation ±{SHIFT:.0%} beside the rotation",
                  based_on="final_averaged",
                  augmentation=Augmentation(rotation=ROTATION, translate=SHIFT)),
        candidate(AVERAGED, "averaged_zoom", f"scale ±{ZOOM:.0%} beside the rotation",
                  based_on="final_averaged",
                  augmentation=Augmentation(rotation=ROTATION, scale=ZOOM)),
        candidate(AVERAGED, "averaged_full_cycle", FULL_CYCLE_WORDS, based_on="final_averaged",
                  anneal_epochs=0),
        candidate(AVERAGED, "averaged_adam", ADAM_WORDS, based_on="final_averaged", **ADAM),
        candidate(AVERAGED, "averaged_peak", peak_words(AVERAGED), based_on="final_averaged",
                  lr=PEAK_LR),
    ),
)


# ----------------------------------------------------------------------------------------
# How the separable model spends its budget. Each lever frees parameters (or keeps the count)
# by changing layers, not training; what it frees goes back into width after the pool, by
# WIDENED, so every candidate stays just under the parameter limit below.

POOL = next(i for i, layer in enumerate(SEPARABLE.architecture) if isinstance(layer, MaxPool))


def _is_depthwise(layer: Layer) -> bool:
    return isinstance(layer, Conv) and layer.depthwise


def _pointwise_after_pool(spec: tuple[Layer, ...]) -> list[int]:
    """Indices of the 1x1 convolutions after the pool, the classifier excluded: the widths
    a candidate widens."""
    pool = next((i for i, layer in enumerate(spec) if isinstance(layer, MaxPool)), None)
    start = pool if pool is not None else POOL
    return [i for i, layer in enumerate(spec) if i > start and isinstance(layer, Conv)
            and layer.kernel == 1 and layer.relu]


def _with_pointwise_widths(spec: tuple[Layer, ...], widths: list[int]) -> tuple[Layer, ...]:
    """``spec`` with its 1x1 convolutions after the pool at ``widths``; each depthwise
    convolution reads the channels the layer before it writes, so it follows."""
    layers = list(spec)
    for index, width in zip(_pointwise_after_pool(spec), widths, strict=True):
        layers[index] = dataclasses.replace(layers[index], out_channels=width)
    channels = 1
    for index, layer in enumerate(layers):
        if _is_depthwise(layer):
            layers[index] = dataclasses.replace(layer, out_channels=channels)
        if isinstance(layer, Conv):
            channels = layers[index].out_channels
    return tuple(layers)


def widened(spec: tuple[Layer, ...], limit: int = PARAMETER_LIMIT) -> tuple[Layer, ...]:
    """``spec`` with the parameters it has left under ``limit`` spent on width after the
    pool: the same number of channels added to every 1x1 convolution there, then the rest
    to the last one (the cheapest: only the classifier reads it)."""
    widths = [spec[i].out_channels for i in _pointwise_after_pool(spec)]

    def fits(candidate_widths: list[int]) -> bool:
        return spec_parameters(_with_pointwise_widths(spec, candidate_widths)) < limit

    if not fits(widths):
        raise ValueError(f"the spec has {spec_parameters(spec):,} parameters, not fewer "
                         f"than {limit:,}")
    while fits([w + 1 for w in widths]):
        widths = [w + 1 for w in widths]
    while fits([*widths[:-1], widths[-1] + 1]):
        widths[-1] += 1
    return _with_pointwise_widths(spec, widths)


def _changed(spec: tuple[Layer, ...], which, **fields) -> tuple[Layer, ...]:
    return tuple(dataclasses.replace(layer, **fields) if which(layer) else layer
                 for layer in spec)


def _hidden(layer: Layer) -> bool:
    return isinstance(layer, Conv) and layer.batch_norm


def _shared_block(spec: tuple[Layer, ...]) -> tuple[Layer, ...]:
    """The third separable block after the pool applies the second's weights again (its own
    batch norm): the depth stays, one block's weights go."""
    pointwise = _pointwise_after_pool(spec)
    second, third = pointwise[1], pointwise[2]
    layers = list(spec)
    for offset in (1, 0):  # the depthwise convolution before the 1x1, then the 1x1
        layers[third - offset] = dataclasses.replace(layers[third - offset],
                                                     shares=second - offset)
    return tuple(layers)


def _strided_instead_of_pool(spec: tuple[Layer, ...]) -> tuple[Layer, ...]:
    """No max-pool: the depthwise convolution after it moves two pixels at a time."""
    layers = list(spec)
    del layers[POOL]
    layers[POOL] = dataclasses.replace(layers[POOL], stride=2)
    return tuple(layers)


def _before_pool_narrower(spec: tuple[Layer, ...]) -> tuple[Layer, ...]:
    """A quarter fewer channels before the pool (where the receptive field is small), so
    that width after it is bought with them."""
    layers = list(spec)
    for index in range(POOL):
        layer = layers[index]
        if isinstance(layer, Conv) and not layer.depthwise:
            layers[index] = dataclasses.replace(layer, out_channels=layer.out_channels * 3 // 4)
    return _with_pointwise_widths(tuple(layers),
                                  [layers[i].out_channels for i in _pointwise_after_pool(spec)])


SEP = SEPARABLE.architecture
SHIFT_ONLY = _changed(SEP, _hidden, batch_norm_scale=False)
LINEAR_DEPTHWISE = _changed(SEP, _is_depthwise, relu=False, batch_norm_affine=False)
FACTORISED = _changed(SEP, _is_depthwise, factorised=True)
SHARED = _shared_block(SEP)
IDENTITY = _changed(SEP, _is_depthwise, identity_init=True)
STRIDED = _strided_instead_of_pool(SEP)
PUSHED_PAST_POOL = _before_pool_narrower(SEP)
IDENTITY_WORDS = "depthwise convolutions start from the identity plus He noise"
# The identity start on top of a lever that frees parameters for width.
IDENTITY_SHARED = _changed(SHARED, _is_depthwise, identity_init=True)
IDENTITY_FACTORISED = _changed(FACTORISED, _is_depthwise, identity_init=True)
# Every lever that frees parameters at once, the freed budget in width.
ALL_FREEING = _shared_block(_changed(
    _changed(SEP, _is_depthwise, relu=False, batch_norm_affine=False, factorised=True),
    lambda layer: _hidden(layer) and not layer.depthwise, batch_norm_scale=False))


def _widths_words(spec: tuple[Layer, ...]) -> str:
    widths = [spec[i].out_channels for i in _pointwise_after_pool(spec)]
    return "widths after the pool " + "-".join(map(str, widths))


def _lever(id: str, change: str, spec: tuple[Layer, ...], widen: bool = True,
           based_on: str | None = None):
    spec = widened(spec) if widen else spec
    words = f"{change}; {_widths_words(spec)}" if widen else change
    return candidate(SEPARABLE, id, words, architecture=spec, based_on=based_on)


NETWORK_LEVERS = Sweep(
    id="network_levers",
    title=f"Under {PARAMETER_LIMIT:,} parameters: the levers that change the network",
    goal=(f"{UNDER_LIMIT_HOLDING}. Each candidate changes how the separable model spends its "
          "budget, not how it trains; what a change frees goes into width after the pool "
          "(the same channels added to every 1x1 convolution there, the rest to the last)."),
    seed_order=(1, 0, 3, 2, 4),
    parameter_limit=PARAMETER_LIMIT,
    levers=(
        ("shift-only batch norm", "batch norm keeps its shift but not its scale: one "
         "parameter per channel instead of two; the next convolution can scale instead"),
        ("a linear depthwise convolution", "without its ReLU and batch-norm parameters, a "
         "depthwise convolution and the 1x1 after it are one linear map, so nothing is lost"),
        ("factorised kernels", "a 3x1 then a 1x3 convolution cover the same 3x3 window with "
         "6 weights instead of 9, if the pattern is separable"),
        ("shared weights", "a block applies another block's weights again, with its own "
         "batch norm: depth without parameters"),
        ("an identity start", "a depthwise kernel starts as the identity (a 1 at its centre) "
         "plus noise, so at first each block passes its input on and learns a change to it"),
        ("a strided convolution", "a stride-2 convolution halves the map in place of the "
         "max-pool, and learns how"),
        ("channels past the pool", "a convolution before the pool costs four times the "
         "compute of one after it but the same parameters; fewer channels early leave "
         "parameters for later"),
    ),
    candidates=(
        _lever("sep_bn_shift", "batch norm's scale fixed at 1, only its shift trained",
               SHIFT_ONLY),
        _lever("sep_linear_depthwise", "no ReLU after each depthwise convolution and no scale "
               "or shift in its batch norm (the 1x1 after it absorbs them)", LINEAR_DEPTHWISE),
        _lever("sep_factorised", "each depthwise 3x3 as a 3x1 then a 1x3 (6 weights per "
               "channel, not 9)", FACTORISED),
        _lever("sep_shared", "the third block after the pool applies the second's weights "
               "again", SHARED),
        _lever("sep_identity", IDENTITY_WORDS, IDENTITY, widen=False),
        _lever("sep_stride", "a stride-2 depthwise convolution in place of the max-pool",
               STRIDED, widen=False),
        _lever("sep_past_pool", "a quarter fewer channels before the pool, spent after it",
               PUSHED_PAST_POOL),
        _lever("sep_all_freeing", "the levers that free parameters together: shift-only batch "
               "norm, linear and factorised depthwise convolutions, a shared block",
               ALL_FREEING),
        # Combined: the identity start, the best lever alone on seed 1, added to the levers
        # that free parameters.
        _lever("sep_identity_shared", IDENTITY_WORDS, IDENTITY_SHARED, based_on="sep_shared"),
        _lever("sep_identity_factorised", IDENTITY_WORDS, IDENTITY_FACTORISED,
               based_on="sep_factorised"),
    ),
)

SWEEPS = {sweep.id: sweep for sweep in (UNDER_4000, MEAN_99_60, NETWORK_LEVERS)}

"""A small course outside the package, as a student would write it (tests build it).

Three nn.Module models: a padded one, one that downsamples with a stride-2 convolution
instead of max-pooling, and a third that changes only the recipe of the second.
"""

import torch
from torch import nn

import mnist_course as mc

WIDTH = 8  # channels of the first convolution; the others are multiples of it


def conv_bn(c_in: int, c_out: int, **options) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, bias=False, **options), nn.BatchNorm2d(c_out), nn.ReLU()]


class Padded(nn.Module):
    """3x3 convolutions with padding 1 (the map keeps its size), a max-pool, GAP."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(1, WIDTH, padding=1), *conv_bn(WIDTH, 2 * WIDTH),
                                  nn.MaxPool2d(2), *conv_bn(2 * WIDTH, 2 * WIDTH),
                                  nn.AdaptiveAvgPool2d(1), nn.Conv2d(2 * WIDTH, 10, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)


class Strided(nn.Module):
    """Downsampling by a stride-2 convolution instead of max-pooling."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(1, WIDTH), *conv_bn(WIDTH, 2 * WIDTH, stride=2),
                                  *conv_bn(2 * WIDTH, 2 * WIDTH), nn.AdaptiveAvgPool2d(1),
                                  nn.Conv2d(2 * WIDTH, 10, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)


PLAIN = mc.Recipe(epochs=15, lr=0.05)

COURSE = mc.Course(
    title="Example course",
    models=[
        mc.CourseModel(id="padded", step=1, title="Padded convolutions", recipe=PLAIN,
                       target="Keep the map size with padding 1.", build=Padded,
                       analysis="Last five epochs: {{ seeds.mean_last5|pct }} with "
                                "{{ m.params|count }} parameters."),
        mc.CourseModel(id="strided", step=2, title="A stride-2 convolution",
                       previous="padded", recipe=PLAIN, build=Strided,
                       target="Downsample with a stride-2 convolution.",
                       analysis="{{ compare.difference|pts }} against the padded model "
                                "({{ compare|noise_words }})."),
        mc.CourseModel(id="rotated", step=3, title="Rotation", previous="strided",
                       recipe=mc.Recipe(epochs=15, lr=0.05,
                                        augmentation=mc.Augmentation(rotation=7)),
                       build=Strided, target="Same network, rotated training digits.",
                       analysis="Final test accuracy {{ seeds.final_test_mean|pct }}."),
    ],
)

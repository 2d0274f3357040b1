"""``mnist-course new DIR``: a starter course a student edits into their own assignment.

It writes ``DIR/course.py`` (three steps, one small ``nn.Module`` each, with a Target and an
Analysis template that use the documented variables) and ``DIR/README.md``. It builds as
it is; ``tests/test_own_course.py`` builds it end to end.
"""

from __future__ import annotations

from pathlib import Path

from mnist_course.errors import UsageError
from mnist_course.report.colab import COLAB_NOTEBOOK, notebook_text, training_notebook

COURSE_FILE = '''"""My MNIST assignment: three steps, one model each (edit freely).

Build it (a quick preview first, then the real runs):

    mnist-course check course.py:Skeleton
    mnist-course build --course course.py --out report --epochs 1 --train-subset 2000
    mnist-course build --course course.py --out report

Every number in the pages and in report/WRITEUP.md comes from a stored run. In the
Analysis templates, write figures as expressions ({{ seeds.mean_last5|pct }}), never
as typed numbers: the variables are listed in the README of mnist_course ("Your own
assignment").
"""

import torch
from torch import nn

import mnist_course as mc


class Skeleton(nn.Module):
    """Step 1: plain 3x3 convolutions, one max-pool and a 1x1 classifier after GAP."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3), nn.ReLU(),                   # 28 -> 26, RF 3
            nn.Conv2d(width, 2 * width, 3), nn.ReLU(),           # 26 -> 24, RF 5
            nn.MaxPool2d(2),                                     # 24 -> 12, RF 6
            nn.Conv2d(2 * width, width, 1), nn.ReLU(),           # 1x1 transition
            nn.Conv2d(width, 2 * width, 3), nn.ReLU(),           # 12 -> 10, RF 10
            nn.Conv2d(2 * width, 2 * width, 3), nn.ReLU(),       # 10 -> 8, RF 14
            nn.Conv2d(2 * width, 2 * width, 3), nn.ReLU(),       # 8 -> 6, RF 18
        )
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(2 * width, 10, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x)).flatten(1)    # (B, 10) logits


class WithBatchNorm(Skeleton):
    """Step 2: the same layers, with batch norm after every hidden convolution."""

    def __init__(self, width: int = 8):
        super().__init__(width)
        layers = []
        for layer in self.features:
            layers.append(layer)
            if isinstance(layer, nn.Conv2d):
                layers.append(nn.BatchNorm2d(layer.out_channels))
        self.features = nn.Sequential(*layers)


PLAIN = mc.Recipe(epochs=15, lr=0.01, momentum=0.9)
ONE_CYCLE = mc.Recipe(epochs=15, lr=0.1, schedule="onecycle",
                      augmentation=mc.Augmentation(rotation=7))

COURSE = mc.Course(
    title="My MNIST assignment",
    models=[
        mc.CourseModel(
            id="skeleton", step=1, title="The skeleton", seeds=(0, 1, 2),
            target=("Get the pipeline right: data, training loop, a test pass every epoch.",
                    "A fully convolutional network under the budget: no nn.Linear, GAP "
                    "and a 1x1 classifier."),
            recipe=PLAIN, build=Skeleton,
            analysis="""
With {{ m.params|count }} parameters the last five epochs average {{ seeds.mean_last5|pct }}
over {{ seeds.count|plural('seed') }} (lowest single epoch {{ seeds.worst_last5|pct }}).
Training accuracy ends at {{ seeds.final_train_mean|pct }}.
{% if seeds.all_pass %}It already meets the assignment.{% else %}It misses the
{{ budget.accuracy|pct }} bar; the next step makes training faster and steadier.{% endif %}
""",
        ),
        mc.CourseModel(
            id="batchnorm", step=2, title="Batch normalisation", previous="skeleton",
            seeds=(0, 1, 2),
            target="Add batch norm after every hidden convolution; same recipe. Expect "
                   "higher test accuracy early and at the end.",
            recipe=PLAIN, build=WithBatchNorm,
            analysis="""
Batch norm moves the last five epochs to {{ seeds.mean_last5|pct }}
({{ compare.difference|pts }} against the skeleton, {{ compare|noise_words }}).
After epoch 1 the test accuracy is {{ seeds.first_test_mean|pct }} (was
{{ prev_seeds.first_test_mean|pct }}).
""",
        ),
        mc.CourseModel(
            id="augmented", step=3, title="Rotation and one-cycle", previous="batchnorm",
            seeds=(0, 1, 2),
            target="Same network; rotate training digits by up to 7 degrees and use a "
                   "one-cycle learning rate, so the last epochs settle.",
            recipe=ONE_CYCLE, build=WithBatchNorm,
            analysis="""
The last five epochs average {{ seeds.mean_last5|pct }} ({{ compare.difference|pts }},
{{ compare|noise_words }}); each seed's last five spread over
{{ seeds.spread_last5_mean|points }} on average.
{% if seeds.all_pass %}Every seed meets every requirement.{% else %}Not met on
{{ seeds.failing|seed_list }}.{% endif %}
""",
        ),
    ],
)
'''

README = '''# My MNIST assignment

`course.py` defines the course: three steps, one model each, every model with its Target
and an Analysis template. Edit the networks (any `nn.Module`), add models, then:

```bash
mnist-course check course.py:WithBatchNorm          # parameters, no Linear, receptive field
mnist-course build --course course.py --out report --epochs 1 --train-subset 2000  # preview
mnist-course build --course course.py --out report  # the real runs (every seed, 15 epochs)
mkdocs serve -f report/mkdocs.yml                   # the site; report/WRITEUP.md to hand in
```

A preview writes its own write-up, `report/WRITEUP-preview.md`; only the real runs write
`report/WRITEUP.md`. In a notebook, `mc.build(COURSE, "report")` does the same as the
build command (its options as keyword arguments).

A run is reused while its network's code, its recipe and its seed are unchanged: editing a
Target or an Analysis retrains nothing, editing one class retrains the models built from it.

`colab.ipynb` trains your final model on Colab's GPU: open it in Colab (File > Upload
notebook, or from your repository on GitHub), upload `course.py` beside it, and run all. It
installs the project, downloads MNIST, prints every epoch and checks the run against the
assignment.
'''


def write_starter(folder: str | Path) -> int:
    """Write the starter course into ``folder``; never overwrite a course already there."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file; give a folder for the new course")
    target = folder / "course.py"
    if target.exists():
        raise UsageError(f"{target} already exists; give an empty or new folder")
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(COURSE_FILE, encoding="utf-8")
    readme = folder / "README.md"
    if not readme.exists():
        readme.write_text(README, encoding="utf-8")
    notebook = folder / COLAB_NOTEBOOK
    if not notebook.exists():
        notebook.write_text(notebook_text(training_notebook("your course", None,
                                                            own_course=True)),
                            encoding="utf-8")
    print(f"wrote {target}, {readme} and {notebook}; next: mnist-course build --course {target} "
          f"--out {folder / 'report'} --epochs 1 --train-subset 2000")
    return 0


__all__ = ["write_starter"]

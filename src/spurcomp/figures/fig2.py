"""Fig. 2: example training images of each semi-synthetic dataset, bias-aligned and bias-conflicting, labelled
with the class y and the bias label b."""
from __future__ import annotations

from pathlib import Path

PAPER_FIGURE = "Fig. 2"
INPUTS = "datasets"
METRICS = ()  # images, not metrics
CAPTION = """
The paper's Fig. 2: what the spurious feature is in each semi-synthetic dataset. Each row shows four
bias-aligned training images (b = y: the spurious feature agrees with the class) and four bias-conflicting ones
(b ≠ y, titles in red), one per class where possible. The row label names the source of the base images
(embedded offline stand-ins or the real MNIST / CIFAR-10). The CSV beside the figure lists every shown image.
"""


def claims(spec: dict, config: dict):
    return []  # an illustration: it tests nothing


def _show(ax, image) -> None:
    import numpy as np

    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(np.clip(image.transpose(1, 2, 0), 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    """``EXAMPLES_PER_KIND`` bias-aligned then as many bias-conflicting training images per dataset (one row each),
    from each dataset's summary."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from spurcomp.data.io import EXAMPLES_PER_KIND, load_summary
    from spurcomp.figures._draw import save
    from spurcomp.names import dataset_name, degraded_column, source_name

    fig, axes = plt.subplots(len(inputs), 2 * EXAMPLES_PER_KIND,
                             figsize=(1.5 * 2 * EXAMPLES_PER_KIND, 1.9 * len(inputs)), layout="constrained",
                             squeeze=False)
    shown, sources = [], set()
    for row, path in zip(axes, inputs):
        summary = load_summary(path)
        meta = summary.metadata
        name, source = dataset_name(meta["generator"]), source_name(meta["source"], meta["generator"])
        degraded = degraded_column(meta)
        for column, kind in enumerate(("aligned", "conflicting")):
            examples = summary.examples(kind)
            kind_axes = row[column * EXAMPLES_PER_KIND:(column + 1) * EXAMPLES_PER_KIND]
            for ax in kind_axes[len(examples):]:
                ax.axis("off")  # a tiny dataset without enough samples of this kind
            for ax, (index, image) in zip(kind_axes, examples):
                y, b = int(summary.train_y[index]), int(summary.train_b[index])
                _show(ax, image)
                ax.set_title(f"y={y}  b={b}", fontsize=7, color="black" if kind == "aligned" else "tab:red")
                shown.append({"dataset": Path(path).stem, "dataset_name": name, "generator": meta["generator"],
                              "source": meta["source"], "index": index, "y": y, "b": b, "kind": kind, **degraded})
        row[0].set_ylabel(f"{name}\n({source}{'; DEGRADED' if degraded else ''})", fontsize=7)
        sources.update(meta.get("base_images", [meta["source"]]))
    fig.suptitle("Example training images: left bias-aligned (b = y), right bias-conflicting (b ≠ y, red)\n"
                 f"base images: {'; '.join(sorted(sources))}", fontsize=8)
    return save(fig, out_pdf, pd.DataFrame(shown), out_csv)

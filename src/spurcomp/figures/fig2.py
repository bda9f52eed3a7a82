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
PER_KIND = 4  # images per row of each kind


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
    """``PER_KIND`` bias-aligned then ``PER_KIND`` bias-conflicting training images per dataset (one row each)."""
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from spurcomp.data.io import load_dataset
    from spurcomp.figures._draw import save
    from spurcomp.names import dataset_name, degraded_column, source_name

    fig, axes = plt.subplots(len(inputs), 2 * PER_KIND, figsize=(1.5 * 2 * PER_KIND, 1.9 * len(inputs)),
                             layout="constrained", squeeze=False)
    shown, sources = [], set()
    for row, path in zip(axes, inputs):
        dataset = load_dataset(path)
        meta, split = dataset.metadata, dataset.train
        aligned, conflicting = np.flatnonzero(split.y == split.b), np.flatnonzero(split.y != split.b)
        name, source = dataset_name(meta["generator"]), source_name(meta["source"], meta["generator"])
        degraded = degraded_column(meta)
        for column, (kind, pool) in enumerate((("aligned", aligned), ("conflicting", conflicting))):
            # one image per class where possible, so the examples show different labels
            by_class = [pool[split.y[pool] == c][:1] for c in range(dataset.num_classes)]
            candidates = np.concatenate([c for c in by_class if len(c)] + [pool])
            picks = list(dict.fromkeys(candidates.tolist()))[:PER_KIND]
            kind_axes = row[column * PER_KIND:(column + 1) * PER_KIND]
            for ax in kind_axes[len(picks):]:
                ax.axis("off")  # a tiny dataset without enough samples of this kind
            for ax, index in zip(kind_axes, picks):
                _show(ax, split.x[index])
                ax.set_title(f"y={split.y[index]}  b={split.b[index]}", fontsize=7,
                             color="black" if kind == "aligned" else "tab:red")
                shown.append({"dataset": Path(path).stem, "dataset_name": name, "generator": meta["generator"],
                              "source": meta["source"], "index": int(index), "y": int(split.y[index]),
                              "b": int(split.b[index]), "kind": kind, **degraded})
        row[0].set_ylabel(f"{name}\n({source}{'; DEGRADED' if degraded else ''})", fontsize=7)
        sources.update(meta.get("base_images", [meta["source"]]))
    fig.suptitle("Example training images: left bias-aligned (b = y), right bias-conflicting (b ≠ y, red)\n"
                 f"base images: {'; '.join(sorted(sources))}", fontsize=8)
    return save(fig, out_pdf, pd.DataFrame(shown), out_csv)

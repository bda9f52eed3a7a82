"""Fig. 8: ResNet18's attributions at a low and a high learning rate on MNIST-CIFAR, CIFAR-10 and CIFAR-100: per
study, the original images (top row) and the Integrated Gradients maps of the low-LR (middle) and the high-LR
model (bottom), on the samples the high-LR model is most likely to predict correctly relative to the low-LR one.

Its studies' runs need ``evaluation: {ig: {maps: N, map_pool: any}}``: the N candidate samples (the same for
every run of a dataset), their maps and each run's probability of their class (``map_target_probability``)."""
from __future__ import annotations

from spurcomp.claims import trend_with_lr

PAPER_FIGURE = "Fig. 8"
INPUTS = "studies"
# what the maps show, measured over many samples: the share on the spurious feature where the data has its pixels
# (MNIST-CIFAR's digit), the share on the background where a segmenter marked it
METRICS = ("spurious_attribution_share", "background_attribution_pct")
TABLE_TITLE = "Spurious and background attribution at each learning rate"
SHOWN = 4  # samples per study
CAPTION = """
The paper's Fig. 8: attributions of ResNet18 trained with a low and a high learning rate. Per dataset, the
candidate test samples (the same for every run) are ranked by how much more likely the high-LR model is to
predict their class than the low-LR model (the probability of the true class, mean over seeds); the top ones are
shown: the image (top), the low-LR model's and the high-LR model's Integrated Gradients map (absolute attribution
summed over channels, each map scaled to its own maximum; the lowest seed), with both probabilities above. The
paper reads the high-LR maps as focused on the object (its contours) and the low-LR maps as spread over
background and texture; on MNIST-CIFAR, on the image (core) rather than the digit (spurious). The claims test
this over many samples: MNIST-CIFAR's spurious attribution share and CIFAR's background attribution percentage
fall with the learning rate. The CSV beside the figure holds each shown sample's probabilities and map totals.
"""


def claims(spec: dict, config: dict):
    out = []
    for study in spec["studies"]:
        dataset = config["datasets"][config["studies"][study]["dataset"]]
        metric = "background_attribution_pct" if dataset.get("background_masks") else "spurious_attribution_share"
        out += trend_with_lr(config, [study], [metric], PAPER_FIGURE, direction=-1)
    return out


def ranked_samples(table, low: float, high: float):
    """The map samples ordered by the high-LR runs' mean probability of the true class minus the low-LR runs'
    (failed runs left out), with both probabilities."""
    from spurcomp.study import FAILED_STATUSES

    rows = table[(table.metric == "map_target_probability") & ~table.status.isin(FAILED_STATUSES)]
    last = rows.groupby(["lr", "seed"])["epoch"].transform("max")
    rows = rows[rows.epoch == last]
    mean = rows.groupby(["group", "lr"])["value"].mean().unstack("lr")
    if low not in mean or high not in mean:
        return mean.iloc[0:0].assign(gain=[])
    return mean.assign(gain=mean[high] - mean[low]).dropna(subset=["gain"]).sort_values("gain", ascending=False)


def map_block(block, table, provenance: dict, grid_rule: dict | None, shown: int = SHOWN) -> list[dict]:
    """Draw one study's samples into ``block`` (a subfigure): images (top row), the low-LR (middle) and high-LR
    (bottom) maps of the ``shown`` samples the high-LR model gets most right relative to the low-LR one (the
    lowest and highest learning rate the grid rule keeps; each map the lowest seed's, at its last checkpoint).
    Returns the drawn values (Fig. 7's top row too)."""
    import pandas as pd

    from spurcomp.claims import grid_rule_cut
    from spurcomp.figures._draw import display_scaled, image_array
    from spurcomp.tables import table_names

    study = provenance.get("study", "")
    names = table_names(table, provenance)
    excluded = grid_rule_cut(table, grid_rule)
    lrs = sorted(lr for lr in table.lr.unique() if lr not in excluded) or sorted(table.lr.unique())
    low, high = lrs[0], lrs[-1]
    axes = block.subplots(3, shown, squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=7)
    axes[1, 0].set_ylabel(f"lr {low:g}", fontsize=7)
    axes[2, 0].set_ylabel(f"lr {high:g}", fontsize=7)
    ranked = ranked_samples(table, low, high) if "image" in table else pd.DataFrame()
    if ranked.empty:
        axes[1, 0].text(0, 0.5, "no attribution maps in this study's table:\nset evaluation.ig.maps and "
                        "ig.map_pool: any", fontsize=7, transform=axes[1, 0].transAxes)
        return []
    seeds = {lr: table[table.lr == lr].seed.min() for lr in (low, high)}
    values = []
    for k, sample in enumerate(ranked.index[:shown]):
        mine = table[table.group == sample]
        image = image_array(mine[mine.metric == "input_image"].image.iloc[0])
        axes[0, k].imshow(display_scaled(image), cmap="gray" if image.shape[-1] == 1 else None)
        label = dict(part.split("=") for part in sample.split(","))
        axes[0, k].set_title(f"#{label['sample']} (y={label['y']}, b={label['b']})", fontsize=6)
        for row, lr in ((1, low), (2, high)):
            maps = mine[(mine.metric == "attribution_map") & (mine.lr == lr) & (mine.seed == seeds[lr])]
            if maps.empty:
                continue
            last = maps[maps.epoch == maps.epoch.max()]
            axes[row, k].imshow(display_scaled(image_array(last.image.iloc[0])), cmap="inferno")
            axes[row, k].set_title(f"p(class) {ranked.loc[sample, lr]:.2f}", fontsize=6)
            values.append({"study": study, "lr": lr, "seed": int(seeds[lr]), "sample": sample,
                           "epoch": int(last.epoch.iloc[0]), "target_probability": float(ranked.loc[sample, lr]),
                           "probability_gain": float(ranked.loc[sample, "gain"]),
                           "map_total": float(last.value.iloc[0]), **names})
    return values


MAP_COLUMNS = ["study", "dataset_name", "model_name", "lr", "seed", "sample", "epoch", "target_probability",
               "probability_gain", "map_total"]


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    import matplotlib.pyplot as plt
    import pandas as pd

    from spurcomp.figures._draw import read_tables, save, source_label
    from spurcomp.tables import table_names

    tables = read_tables(inputs)
    fig = plt.figure(figsize=(2.0 * SHOWN * len(tables) + 0.5, 6.4), layout="constrained")
    blocks = fig.subfigures(1, len(tables), squeeze=False)[0]
    values = []
    for block, (table, provenance) in zip(blocks, tables):
        names = table_names(table, provenance)
        values += map_block(block, table, provenance, grid_rule)
        block.suptitle(f"{names['dataset_name']}\n{names['model_name']}", fontsize=8)
        block.supxlabel(source_label(provenance), fontsize=6)
    fig.suptitle("Attributions at a low and a high learning rate (Integrated Gradients; samples the high-LR model "
                 "gets right relative to the low-LR one)", fontsize=9)
    return save(fig, out_pdf, pd.DataFrame(values, columns=MAP_COLUMNS), out_csv)

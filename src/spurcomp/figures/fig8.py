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


def plot(inputs, out_pdf, out_csv=None, grid_rule=None):
    import matplotlib.pyplot as plt
    import pandas as pd

    from spurcomp.figures._draw import MAP_COLUMNS, MAP_SAMPLES, map_block, read_tables, save, source_label
    from spurcomp.tables import table_names

    tables = read_tables(inputs)
    fig = plt.figure(figsize=(2.0 * MAP_SAMPLES * len(tables) + 0.5, 6.4), layout="constrained")
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

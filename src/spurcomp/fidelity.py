"""The fidelity manifest: for every figure of a config, what the paper states beside what the config does.

Generated from the config, never written by hand. Each row is one aspect of one figure (data, model, optimiser,
stopping rule, seeds, learning rates, Integrated Gradients, pruning) with a verdict:

- ``as in the paper``: the config does what the paper's text states (or the method it cites);
- ``the paper does not say: our choice``: the paper leaves it open and the config's value is shown;
- ``departs: REASON``: the config does otherwise, for the reason the config itself states in its ``departures``
  section (``ASPECT: reason``, or ``FIGURE.ASPECT: reason`` for one figure); a departure without a stated reason
  reads ``departs: no reason stated``.

The paper's settings are quoted from its text (sections 3.2-4); the datasets' full sizes are their official splits.
Light on purpose (no third-party imports): ``snakemake -n`` and the CLI build it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spurcomp.figures import figure_names, figure_spec, layout_module
from spurcomp.names import dataset_label, dataset_spec_source, model_name
from spurcomp.settings import TrainingSetting
from spurcomp.study import run_evaluations, run_setting, study_runs

AS_PAPER = "as in the paper"
OPEN = "the paper does not say: our choice"
DEPARTS = "departs"

# The aspects a row can be about (and a `departures` key can name).
ASPECTS = ("data_source", "data_size", "image_size", "rho", "models", "optimizer", "batch_size", "stopping",
           "seeds", "lr_grid", "ig", "pruning")

# The official splits (train, test) the paper uses in full; None: the whole release (sec. 4.1-4.2).
FULL_SPLITS = {"colored_mnist": (60000, 10000), "double_mnist": (60000, 10000), "corrupted_cifar10": (50000, 10000),
               "mnist_cifar": (50000, 10000), "cifar10": (50000, 10000), "cifar100": (50000, 10000),
               "imagenet": (None, None), "celeba": (None, None), "waterbirds": (None, None)}
# bias-conflicting fractions (sec. 4.1; parity and moon-star: train and test)
PAPER_RHO = {"colored_mnist": 0.025, "double_mnist": 0.025, "corrupted_cifar10": 0.1, "mnist_cifar": 0.1,
             "parity": (0.1, 0.5), "moonstar": (0.1, 0.5)}
# image sides the text or the dataset's recipe states (ImageNet "scaled to 256×256"; moon-star's original 200 px)
PAPER_IMAGE_SIZE = {"imagenet": 256, "moonstar": 200}
# "Batch sizes are set to 16 for CelebA, Waterbirds, and ImageNet experiments, and 100 for the remaining" (sec. 4)
SMALL_BATCH_DATASETS = ("celeba", "waterbirds", "imagenet")
SYNTHETIC = ("parity", "moonstar")
# A cap on epochs below which runs the paper trains on (to 100% training accuracy) are cut short: our threshold
# for calling a cap a departure rather than a safeguard the paper does not mention.
MIN_EPOCH_CAP = 100
# the layouts whose studies vary a knob other than the learning rate on purpose
KNOB_FIGURES = ("fig6", "fig9", "figS_optimizers")
MIN_SEEDS = 3  # "the average of experiments run with at least 3 different random seeds" (sec. 4)


@dataclass(frozen=True)
class Row:
    figure: str
    paper_figure: str
    aspect: str
    paper: str
    ours: str
    verdict: str  # AS_PAPER, OPEN, or "departs: REASON"


def _verdict(ok: bool | None, config: dict, figure: str, aspect: str) -> str:
    """AS_PAPER (ok), OPEN (None: the paper does not say) or the stated departure."""
    if ok is None:
        return OPEN
    if ok:
        return AS_PAPER
    reasons = config.get("departures") or {}
    reason = reasons.get(f"{figure}.{aspect}") or reasons.get(aspect)
    return f"{DEPARTS}: {' '.join(reason.split()) if reason else 'no reason stated'}"


def _datasets(config: dict, spec: dict) -> list[str]:
    if "datasets" in spec:
        return list(spec["datasets"])
    return list(dict.fromkeys(config["studies"][s]["dataset"] for s in spec["studies"]))


def _join(values) -> str:
    return "; ".join(dict.fromkeys(str(v) for v in values))


def _data_rows(config: dict, datasets: list[str]) -> list[tuple]:
    specs = {name: config["datasets"][name] for name in datasets}
    labels = [dataset_label(s["generator"], dataset_spec_source(s)) for s in specs.values()]
    real = all(s["generator"] in SYNTHETIC or dataset_spec_source(s) in ("torchvision", "folder")
               for s in specs.values())
    rows = [("data_source", "the real images (MNIST, CIFAR-10/100, ImageNet-1k, CelebA, Waterbirds); parity and "
             "moon-star synthetic", _join(labels), real)]

    def size(value):
        return "whole split" if value is None else f"{value:,}"

    sized = {n: s for n, s in specs.items() if s["generator"] in FULL_SPLITS}
    if sized:
        full = all((s.get("n_train"), s.get("n_test")) == FULL_SPLITS[s["generator"]] for s in sized.values())
        rows.append(("data_size", "the official splits, whole",
                     _join(f"{n}: {size(s.get('n_train'))} / {size(s.get('n_test'))}" for n, s in sized.items()), full))
    synthetic = {n: s for n, s in specs.items() if s["generator"] in SYNTHETIC}
    if synthetic:
        rows.append(("data_size", "not stated",
                     _join(f"{n}: {s.get('n_train'):,} / {s.get('n_test'):,}" for n, s in synthetic.items()), None))
    sided = {n: s for n, s in specs.items() if "image_size" in s}
    if sided:
        stated = {n: s for n, s in sided.items() if s["generator"] in PAPER_IMAGE_SIZE}
        if stated:
            rows.append(("image_size", _join(f"{n}: {PAPER_IMAGE_SIZE[s['generator']]} px" for n, s in stated.items()),
                         _join(f"{n}: {s['image_size']} px" for n, s in stated.items()),
                         all(s["image_size"] == PAPER_IMAGE_SIZE[s["generator"]] for s in stated.values())))
        unstated = {n: s for n, s in sided.items() if n not in stated}
        if unstated:
            rows.append(("image_size", "not stated", _join(f"{n}: {s['image_size']} px" for n, s in unstated.items()),
                         None))
    with_rho = {n: s for n, s in specs.items() if s["generator"] in PAPER_RHO}
    if with_rho:
        def rho_of(spec):
            return (spec.get("rho_train"), spec.get("rho_test")) if spec["generator"] in SYNTHETIC \
                else spec.get("rho_train")
        rows.append(("rho", _join(f"{n}: {PAPER_RHO[s['generator']]}" for n, s in with_rho.items()),
                     _join(f"{n}: {rho_of(s)}" for n, s in with_rho.items()),
                     all(rho_of(s) == PAPER_RHO[s["generator"]] for s in with_rho.values())))
    return rows


def _paper_model(spec: dict) -> bool:
    """Full width; the FCN of sec. 5 (3 × 200); Swin-T from ImageNet weights (sec. 4.2)."""
    arch = spec["arch"]
    if arch in ("cnn", "resnet"):
        return float(spec.get("width", 1.0)) == 1.0
    if arch == "fcn":
        return list(spec.get("hidden", [])) == [200, 200, 200]
    return spec.get("size") == "t" and bool(spec.get("pretrained"))


def _lr_sweep(spec: dict) -> bool:
    return len(spec["grid"].get("lr", [])) > 2


def _study_rows(config: dict, figure: str, studies: list[str], run_settings: dict) -> list[tuple]:
    specs = {s: config["studies"][s] for s in studies}
    models = {config["studies"][s]["model"] for s in studies}
    rows = [("models", "full-width VGG11-style CNN, ResNet18/50, Wide ResNet-101-2; FCN 3 × 200; Swin-T from "
             "ImageNet-1k weights", _join(model_name(config["models"][m]) for m in sorted(models)),
             all(_paper_model(config["models"][m]) for m in models))]
    settings = {s: run_setting(config, study_runs(config, s)[0].setting) for s in studies}
    # the knobs a study fixes; the knobs its grid varies are what the figure compares (fig6, figS_optimizers)
    fixed = {s: {k: v for k, v in settings[s].knobs().items() if k not in specs[s]["grid"]} for s in studies}
    plain = TrainingSetting(lr=1.0, batch_size=1)
    knobs = ("optimizer", "schedule", "momentum", "weight_decay", "l1", "l2", "focal_gamma", "asam_rho")
    varied = [s for s in studies if any(fixed[s].get(k, getattr(plain, k)) != getattr(plain, k) for k in knobs)]
    if any(config["models"][specs[s]["model"]]["arch"] == "swin" for s in studies):
        rows.append(("optimizer", "AdamW from ImageNet-1k weights (weight decay not stated)",
                     _join(f"{fixed[s]['optimizer']}, weight decay {fixed[s]['weight_decay']:g}" for s in studies),
                     None if all(fixed[s]["optimizer"] == "adamw" for s in studies) else False))
    else:
        described = _join(f"{s}: " + ", ".join(f"{k} {fixed[s][k]}" for k in knobs
                                                if fixed[s].get(k, getattr(plain, k)) != getattr(plain, k))
                          for s in varied) or "SGD, constant learning rate, no momentum, no L1/L2"
        if varied and figure_spec(config, figure)["layout"] in KNOB_FIGURES:
            rows.append(("optimizer", "SGD, with the knob the figure compares", described, True))
        else:
            rows.append(("optimizer", "SGD, constant learning rate, no L1/L2 (sec. 3.1, 4)", described, not varied))
    batch = {s: fixed[s]["batch_size"] for s in studies if "batch_size" in fixed[s]}
    expected = {s: 16 if specs[s]["dataset"] in SMALL_BATCH_DATASETS else 100 for s in batch}
    rows.append(("batch_size", _join(f"{specs[s]['dataset']}: {expected[s]}" for s in batch),
                 _join(f"{specs[s]['dataset']}: {b}" for s, b in batch.items()),
                 all(batch[s] == expected[s] for s in batch)))
    caps = {s: fixed[s]["max_epochs"] if "max_epochs" in fixed[s] else max(specs[s]["grid"]["max_epochs"])
            for s in studies}
    past = sorted({fixed[s].get("post_fit_epochs", 0) for s in studies} - {0})
    rows.append(("stopping", "until 100% training accuracy (no cap stated)",
                 "until 100% training accuracy" + (f" and {_join(past)} epochs past it" if past else "")
                 + f" or {_join(sorted(set(caps.values())))} epochs (then not_converged)",
                 False if past else None if min(caps.values()) >= MIN_EPOCH_CAP else False))
    seeds = {s: len(specs[s]["seeds"]) for s in studies}
    rows.append(("seeds", f"at least {MIN_SEEDS}", _join(sorted(set(seeds.values()))),
                 min(seeds.values()) >= MIN_SEEDS))
    sweeps = [s for s in studies if _lr_sweep(specs[s])]
    if sweeps:
        extended = [s for s in sweeps if specs[s].get("lr_until_failure")]
        rows.append(("lr_grid", "up to divergence or > 25% test-accuracy loss on any seed",
                     _join(f"{s}: {specs[s]['grid']['lr']}" + (" extended until one fails" if s in extended else "")
                           for s in sweeps), len(extended) == len(sweeps)))
    pairs = [s for s in studies if "lr" in specs[s]["grid"] and not _lr_sweep(specs[s])]
    if pairs:
        rows.append(("lr_grid", "η = 0.001 vs 0.1 (Fig. 13)" if figure_spec(config, figure)["layout"] == "fig13"
                     else "a low and a high rate, not stated",
                     _join(f"{s}: {specs[s]['grid']['lr']}" for s in pairs),
                     all(specs[s]["grid"]["lr"] == [0.001, 0.1] for s in pairs)
                     if figure_spec(config, figure)["layout"] == "fig13" else None))
    return rows + _evaluation_rows(config, studies, run_settings)


def _evaluation_rows(config: dict, studies: list[str], run_settings: dict) -> list[tuple]:
    """The Integrated Gradients and pruning rows of a figure's studies."""
    evaluations = {s: run_settings[study_runs(config, s)[0]] for s in studies}
    ig = {s: e["ig"] for s, e in evaluations.items()}

    def baselines(i):
        return f"{i['n_baselines']} random baselines" if i["baseline"] == "uniform" else "the all-zero baseline"
    rows = []
    rows.append(("ig", "Integrated Gradients over 10 random seeds (baselines) (sec. 3.3); steps and samples not "
                 "stated", _join(f"{baselines(i)}, {i['n_steps']} steps, {i['n_samples']} samples" for i in ig.values()),
                 all(i["baseline"] == "uniform" and i["n_baselines"] == 10 for i in ig.values())))
    pruning = {s: e["pruning"] for s, e in evaluations.items()}
    rows.append(("pruning", "structured, Li et al. 2017 (L1 norm per layer), κ of the parameters (sec. 3.2)",
                 _join(f"{p['criterion']}, {p['scope']}, κ of the {p['budget']}" for p in pruning.values()),
                 all((p["criterion"], p["scope"], p["budget"]) == ("l1_weight", "layer", "parameters")
                     for p in pruning.values())))
    return rows


def fidelity_rows(config: dict) -> list[Row]:
    """Every figure's rows (a validated config)."""
    run_settings = run_evaluations(config)  # every run's evaluation settings, listed once
    rows = []
    for figure in figure_names(config):
        spec = figure_spec(config, figure)
        paper_figure = layout_module(spec["layout"]).PAPER_FIGURE
        found = _data_rows(config, _datasets(config, spec))
        if "studies" in spec:
            found += _study_rows(config, figure, spec["studies"], run_settings)
        rows += [Row(figure, paper_figure, aspect, paper, ours, _verdict(ok, config, figure, aspect))
                 for aspect, paper, ours, ok in found]
    return rows


def departures(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.verdict.startswith(DEPARTS)]


def fidelity_markdown(config: dict, title: str = "Fidelity to the paper") -> str:
    """The manifest as Markdown: a summary line, then one table per figure."""
    rows = fidelity_rows(config)
    departing = departures(rows)
    counts = {v: sum(r.verdict.startswith(v) for r in rows) for v in (AS_PAPER, OPEN, DEPARTS)}
    lines = [f"# {title}", "",
             f"{len(rows)} settings over {len(figure_names(config))} figures: {counts[AS_PAPER]} as in the paper, "
             f"{counts[OPEN]} that the paper leaves open (our choice shown), {counts[DEPARTS]} "
             f"departure{'' if counts[DEPARTS] == 1 else 's'}, each with the reason the config states (`departures:`). Generated from the config by `spurcomp fidelity`.", ""]
    if departing:
        lines += ["## Departures", "", "| figure | setting | the paper | this config | why |", "|---|---|---|---|---|"]
        lines += [f"| {r.figure} ({r.paper_figure}) | {r.aspect} | {r.paper} | {r.ours} | "
                  f"{r.verdict.removeprefix(DEPARTS + ': ')} |" for r in departing]
        lines.append("")
    for figure in figure_names(config):
        mine = [r for r in rows if r.figure == figure]
        lines += [f"## {figure} ({mine[0].paper_figure})" if mine else f"## {figure}", "",
                  "| setting | the paper | this config | verdict |", "|---|---|---|---|"]
        lines += [f"| {r.aspect} | {r.paper} | {r.ours} | {r.verdict} |" for r in mine]
        lines.append("")
    return "\n".join(lines)


def fidelity_datasets(config: dict) -> list[str]:
    """The datasets the config's figures use (their built files tell whether a fallback degraded them)."""
    return list(dict.fromkeys(name for figure in figure_names(config)
                              for name in _datasets(config, figure_spec(config, figure))))


def degraded_markdown(dataset_files: dict) -> str:
    """The manifest's section on built data that a fallback degraded (``dataset_files``: name -> its file, those
    that exist are read); '' where none is."""
    from spurcomp.data.io import load_metadata
    from spurcomp.names import dataset_name, degraded_text

    found = {name: load_metadata(path) for name, path in dataset_files.items() if Path(path).exists()}
    degraded = {name: meta for name, meta in found.items() if degraded_text(meta)}
    if not degraded:
        return ""
    lines = ["## Degraded data", "", "Built with a fallback where part of the original data could not be read; every "
             "figure, table and claims row that uses them says so.", "", "| dataset | what the fallback replaced |",
             "|---|---|"]
    lines += [f"| {dataset_name(meta['generator'])} (`{name}`) | {degraded_text(meta)} |" for name, meta in degraded.items()]
    return "\n".join(lines) + "\n"


def with_degraded(manifest: str, dataset_files: dict) -> str:
    """The manifest with its degraded-data section (after the summary) where the built data have one."""
    section = degraded_markdown(dataset_files)
    if not section:
        return manifest
    head, _, rest = manifest.partition("\n\n")
    summary, _, tables = rest.partition("\n\n")
    return f"{head}\n\n{summary}\n\n{section}\n{tables}"

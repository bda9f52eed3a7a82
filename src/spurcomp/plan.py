"""What a config's grid costs before it is launched: per figure and per study, the runs, the epochs at most (each
setting's cap: runs that reach 100% training accuracy stop earlier, so this is an upper bound), the training
images per epoch, the milliseconds of one training step on the chosen device, and the device-hours of training.

Step times come from a table in the package (``src/spurcomp/step_times.csv``: device, model, input, batch,
precision, milliseconds per step, and how it was measured), which ``benchmarks/paper_scale.py --table`` refreshes
on the user's own hardware. A model and input measured at another batch size or input size is estimated by scaling
the nearest measurement of the same model on the same device by images × pixels per step (marked ``estimated``);
a model never measured on the device has no time (marked, and left out of the totals, which say so). Evaluation is
not included: at the laptop scale it costs about as much again as training.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from spurcomp.fidelity import FULL_SPLITS
from spurcomp.figures import figure_names, figure_spec, layout_module
from spurcomp.settings import parse_setting_key
from spurcomp.study import study_runs

STEP_TIMES = Path(__file__).with_name("step_times.csv")  # package data: installed with spurcomp
# the training images of the releases a config can read whole (n_train: null); the official splits of the other
# datasets are the fidelity manifest's
RELEASE_TRAIN = {"imagenet": 1_281_167, "celeba": 162_770, "waterbirds": 4_795}
IMAGE_SHAPES = {"colored_mnist": (3, 28, 28), "double_mnist": (1, 28, 56), "corrupted_cifar10": (3, 32, 32),
                "mnist_cifar": (3, 64, 32), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32)}


def input_shape(spec: dict) -> tuple[int, ...]:
    """The input a dataset section gives a model, without building it."""
    generator = spec["generator"]
    if generator == "parity":
        return (spec.get("core_bits", 3) + spec.get("spurious_bits", 1) + spec.get("noise_bits", 16),)
    if generator == "moonstar":
        return (1, spec.get("image_size", 32), spec.get("image_size", 32))
    if generator in IMAGE_SHAPES:
        return IMAGE_SHAPES[generator]
    side = spec.get("image_size", 64)
    return (3, side, side)


def train_images(spec: dict) -> int:
    n = spec.get("n_train")
    if n is not None:
        return int(n)
    return RELEASE_TRAIN.get(spec["generator"]) or FULL_SPLITS[spec["generator"]][0]


def model_key(spec: dict) -> str:
    """A model section as the step-time table names it: ``resnet18 x1``, ``cnn x0.125``, ``fcn 200-200-200``,
    ``swin t``."""
    arch = spec["arch"]
    if arch == "fcn":
        return "fcn " + "-".join(str(h) for h in spec.get("hidden", [200, 200, 200]))
    if arch == "swin":
        return f"swin {spec.get('size', 'small')}"
    name = spec.get("depth", "resnet18") if arch == "resnet" else arch
    return f"{name} x{float(spec.get('width', 1.0)):g}"


@dataclass(frozen=True)
class StepTime:
    device: str
    model: str
    shape: tuple[int, ...]
    batch: int
    precision: str
    ms: float
    measured_with: str


def read_step_times(path: str | Path = STEP_TIMES) -> list[StepTime]:
    with open(path, newline="") as handle:
        return [StepTime(row["device"], row["model"], tuple(int(v) for v in row["input"].split("x")),
                         int(row["batch"]), row["precision"], float(row["ms_per_step"]), row["measured_with"])
                for row in csv.DictReader(line for line in handle if not line.startswith("#"))]


def step_ms(times: list[StepTime], device: str, model: str, shape: tuple[int, ...], batch: int,
            precision: str) -> tuple[float | None, str]:
    """Milliseconds per step and whether ``measured`` or ``estimated`` (from the same model on the same device,
    scaled by images × values per step; the precision's own measurement first), or (None, 'not measured')."""
    same = [t for t in times if t.device == device and t.model == model]
    for t in same:
        if t.shape == shape and t.batch == batch and t.precision == precision:
            return t.ms, "measured"
    if not same:
        return None, "not measured"
    work = batch * math.prod(shape)
    nearest = min(same, key=lambda t: (t.precision != precision, abs(math.log(t.batch * math.prod(t.shape) / work))))
    return nearest.ms * work / (nearest.batch * math.prod(nearest.shape)), "estimated"


@dataclass(frozen=True)
class StudyCost:
    study: str
    model: str
    runs: int
    max_epochs: int  # the largest cap among its settings
    images: int
    steps: int  # over every run, at the caps
    ms_per_step: float | None
    how: str
    hours: float | None


def study_cost(config: dict, study: str, times: list[StepTime], device: str) -> StudyCost:
    spec = config["studies"][study]
    data, model = config["datasets"][spec["dataset"]], config["models"][spec["model"]]
    runs = study_runs(config, study, planned=True)  # with every rate lr_until_failure may add: an upper bound
    settings = [parse_setting_key(run.setting, config["training"]) for run in runs]
    images, shape, key = train_images(data), input_shape(data), model_key(model)
    steps = sum(math.ceil(images / s.batch_size) * s.max_epochs for s in settings)
    # a study's settings share batch size and precision but for a knob study: its first setting speaks for it
    ms, how = step_ms(times, device, key, shape, settings[0].batch_size, settings[0].precision)
    return StudyCost(study, key, len(runs), max(s.max_epochs for s in settings), images, steps, ms, how,
                     None if ms is None else steps * ms / 3.6e6)


def plan(config: dict, device: str, times: list[StepTime] | None = None) -> dict[str, list[StudyCost]]:
    """Each figure's studies' costs (a study shared by figures appears under each; totals count it once)."""
    times = read_step_times() if times is None else times
    costs: dict[str, StudyCost] = {}
    by_figure = {}
    for figure in figure_names(config):
        spec = figure_spec(config, figure)
        studies = spec.get("studies", []) if layout_module(spec["layout"]).INPUTS == "studies" else []
        by_figure[figure] = [costs.setdefault(s, study_cost(config, s, times, device)) for s in studies]
    return by_figure


def plan_markdown(by_figure: dict[str, list[StudyCost]], device: str) -> str:
    unique = {cost.study: cost for costs in by_figure.values() for cost in costs}
    known = [c for c in unique.values() if c.hours is not None]
    unknown = sorted({c.model for c in unique.values() if c.hours is None})
    lines = [f"# The grid's cost on {device}", "",
             "Training only, each run to its epoch cap (an upper bound: runs that reach 100% training accuracy stop "
             "earlier); learning rates that `lr_until_failure` may add are counted. Step times from "
             "spurcomp/step_times.csv or --step-times FILE (measured, or estimated from the same model at another input or batch).", "",
             "| figure | study | model | runs | epochs at most | images / epoch | ms / step | hours |",
             "|---|---|---|---|---|---|---|---|"]
    for figure, costs in by_figure.items():
        for c in costs:
            ms = "–" if c.ms_per_step is None else f"{c.ms_per_step:.3g} ({c.how})"
            hours = "–" if c.hours is None else f"{c.hours:,.2f}"
            lines.append(f"| {figure} | {c.study} | {c.model} | {c.runs} | {c.max_epochs} | {c.images:,} | {ms} | "
                         f"{hours} |")
        known_here = [c.hours for c in costs if c.hours is not None]
        total = f"**{sum(known_here):,.2f}**" if known_here else "–"
        lines.append(f"| **{figure}** | | | {sum(c.runs for c in costs)} | | | | {total} |")
    lines += ["", f"Total over {len(unique)} studies ({sum(c.runs for c in unique.values())} runs, each counted "
              f"once): **{sum(c.hours for c in known):,.1f} hours** of training on {device}"
              + (f"; without the studies of models never measured on it: {', '.join(unknown)} (run "
                 f"`benchmarks/paper_scale.py --table` there)" if unknown else "") + "."]
    return "\n".join(lines) + "\n"

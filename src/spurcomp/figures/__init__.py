"""Figures: every paper figure is an entry of the config's ``figures:`` section, ``NAME: {layout: figN,
studies: [...]}`` (or ``datasets: [...]`` for figures of example images), and every layout is one module
``spurcomp/figures/figN.py``, found here by its name. A layout module exports

- ``PAPER_FIGURE``: the paper's figure it reproduces (``"Fig. 4"``);
- ``INPUTS``: ``"studies"`` (drawn from study tables) or ``"datasets"`` (drawn from dataset files);
- ``METRICS``: the metrics it plots;
- ``CAPTION``: what the paper's figure shows and how to read ours (the report adds what it was drawn from);
- ``TABLE_TITLE`` (optional): the results table's title, where the list of metric names would be too long;
- ``claims(spec, config)``: the paper's claims it tests (:mod:`spurcomp.claims`);
- ``plot(inputs, out_pdf, out_csv, grid_rule=None)``: draws ``figures/NAME.pdf`` and writes the plotted values
  to the CSV; ``grid_rule`` is the config's section (curves keep the learning rates the paper's rule keeps).

Layout modules import matplotlib, SciPy and pandas inside ``plot`` only: this package is imported when
Snakemake builds the DAG, which must stay light. Modules whose name starts with ``_`` are helpers.
"""
from __future__ import annotations

import importlib
from dataclasses import asdict
from pathlib import Path
from types import ModuleType

from spurcomp.config import UnknownName, layout_inputs
from spurcomp.names import dataset_label, dataset_spec_source, metric_name, model_name
from spurcomp.study import RESULTS, figure_path, summary_path, table_path

LAYOUTS = tuple(layout_inputs())  # the modules of this package (spurcomp.config reads them from their sources)


def layout_module(layout: str) -> ModuleType:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown figure layout {layout!r}; allowed: {list(LAYOUTS)} (modules of spurcomp.figures)")
    return importlib.import_module(f"{__name__}.{layout}")


def figure_spec(config: dict, figure: str) -> dict:
    figures = config.get("figures") or {}
    if figure not in figures:
        raise UnknownName(f"no figure {figure!r} in the config's `figures` section; defined: {sorted(figures)}")
    return figures[figure]


def figure_names(config: dict) -> list[str]:
    return list(config.get("figures") or {})


def all_figures(config: dict) -> list[Path]:
    return [figure_path(name) for name in figure_names(config)]


def tabulated_figures(config: dict) -> list[str]:
    """The figures drawn from study tables with metrics to tabulate (results/tables/FIGURE.md and .tex)."""
    modules = {name: layout_module(figure_spec(config, name)["layout"]) for name in figure_names(config)}
    return [name for name, module in modules.items() if module.INPUTS == "studies" and module.METRICS]


def results_table_paths(config: dict) -> list[Path]:
    return [RESULTS / "tables" / f"{name}.{ext}" for name in tabulated_figures(config) for ext in ("md", "tex")]


def figure_inputs(config: dict, figure: str) -> list[Path]:
    """The files a figure is drawn from: its studies' tables, or its datasets' summaries."""
    spec = figure_spec(config, figure)
    if layout_module(spec["layout"]).INPUTS == "datasets":
        return [summary_path(name) for name in spec["datasets"]]
    return [table_path(name) for name in spec["studies"]]


def figure_caption(config: dict, figure: str) -> str:
    """The report's caption: the layout's own text, then what this figure was drawn from (reStructuredText)."""
    spec = figure_spec(config, figure)
    module = layout_module(spec["layout"])
    datasets = config["datasets"]
    lines = [f"**{module.PAPER_FIGURE}** (``figures/{figure}.pdf``, layout ``{spec['layout']}``). "
             f"{' '.join(module.CAPTION.split())}", ""]
    if module.INPUTS == "datasets":
        drawn = [f"- {dataset_label(datasets[d]['generator'], dataset_spec_source(datasets[d]))} "
                 f"(dataset ``{d}``)" for d in spec["datasets"]]
    else:
        drawn = []
        for study in spec["studies"]:
            s = config["studies"][study]
            data = datasets[s["dataset"]]
            knobs = "; ".join(f"{knob} {values}" for knob, values in s["grid"].items())
            drawn.append(f"- study ``{study}``: {dataset_label(data['generator'], dataset_spec_source(data))}, "
                         f"{model_name(config['models'][s['model']])}; {knobs}; seeds {s['seeds']}")
    return "\n".join(lines + [f"Drawn from the config's ``figures.{figure}`` entry:", ""] + drawn) + "\n"


__all__ = ["LAYOUTS", "all_figures", "figure_caption", "figure_inputs", "figure_names", "figure_spec",
           "layout_module", "results_table_paths", "tabulated_figures"]


# The claims and the results tables of the config's figures: each layout module states its claims and metrics, so
# they live here, above the claims and tables modules they use (which never import the figures).
def config_claims(config: dict) -> list:
    """The claims of every figure of the config, as its layout module states them (first figure wins when
    two figures test the same claim)."""
    claims = {}
    for spec in (config.get("figures") or {}).values():
        for claim in layout_module(spec["layout"]).claims(spec, config):
            claims.setdefault(claim.claim_id, claim)
    return list(claims.values())


def claims_param(config: dict) -> list[dict]:
    """:func:`config_claims` as plain dicts: the claims job's param (a changed claim reruns it)."""
    return [asdict(claim) for claim in config_claims(config)]


def claim_studies(config: dict) -> list[str]:
    """The studies whose tables the claims are tested on."""
    return sorted({study for claim in config_claims(config) for study in claim.studies})


def figure_tables(layout: str, inputs, grid_rule: dict | None = None, formats=None) -> tuple:
    """The metrics of a figure's layout per study and learning rate: the frame, and its text in each format
    (default: every format of :mod:`spurcomp.tables`). pandas is imported here, not by the DAG side."""
    from spurcomp.tables import FORMATS, render, results_table

    module = layout_module(layout)
    frame = results_table(inputs, module.METRICS, grid_rule, getattr(module, "study_label", None))
    title = getattr(module, "TABLE_TITLE", None) or (
        f"{module.PAPER_FIGURE}: {', '.join(metric_name(m) for m in module.METRICS)} against learning rate")
    return frame, {fmt: render(frame, module.METRICS, title, fmt) for fmt in formats or FORMATS}


def write_tables(layout: str, inputs, out_md, out_tex, grid_rule: dict | None = None):
    """``results/tables/FIGURE.md`` and ``.tex`` (:func:`figure_tables`)."""
    frame, texts = figure_tables(layout, inputs, grid_rule)
    for out, fmt in ((out_md, "md"), (out_tex, "latex")):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(texts[fmt])
    return frame

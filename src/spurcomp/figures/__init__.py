"""Figures, drawn from study tables (never from checkpoints) or, for fig2, from dataset files."""
from spurcomp.figures.fig3 import plot_fig3
from spurcomp.figures.studies import plot_fig2, plot_fig4, plot_fig5

PLOTS = {"fig3": plot_fig3}  # a study's own figure, from its table
FIGURE_LAYOUTS = {"fig2": plot_fig2, "fig4": plot_fig4, "fig5": plot_fig5}  # figures of the `figures` section


def plot_study(plot: str, table_path, out_pdf, out_csv=None):
    if plot not in PLOTS:
        raise ValueError(f"unknown plot layout {plot!r}; allowed: {sorted(PLOTS)}")
    return PLOTS[plot](table_path, out_pdf, out_csv)


def plot_figure(layout: str, inputs, out_pdf, out_csv=None):
    """A figure of the ``figures`` section from its inputs (study tables, or dataset files for fig2)."""
    if layout not in FIGURE_LAYOUTS:
        raise ValueError(f"unknown figure layout {layout!r}; allowed: {sorted(FIGURE_LAYOUTS)}")
    return FIGURE_LAYOUTS[layout](list(inputs), out_pdf, out_csv)


__all__ = ["FIGURE_LAYOUTS", "PLOTS", "plot_figure", "plot_study"]

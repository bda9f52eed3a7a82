"""Figures, drawn from study tables only (never from checkpoints)."""
from spurcomp.figures.fig3 import plot_fig3

PLOTS = {"fig3": plot_fig3}


def plot_study(plot: str, table_path, out_pdf, out_csv=None):
    if plot not in PLOTS:
        raise ValueError(f"unknown plot layout {plot!r}; allowed: {sorted(PLOTS)}")
    return PLOTS[plot](table_path, out_pdf, out_csv)


__all__ = ["PLOTS", "plot_study"]

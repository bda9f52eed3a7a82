"""Datasets behind one contract: see :mod:`spurcomp.data.io`.

The generators (SciPy, scikit-image, matplotlib's polygons) are imported on first use of ``build_dataset`` or
``GENERATORS``, so that a job that only reads a dataset file (training, evaluation, a figure of samples) does not pay for them.
"""
from spurcomp.data.io import FEATURE_CODES, Dataset, Split, load_dataset, save_dataset

__all__ = ["FEATURE_CODES", "GENERATORS", "Dataset", "Split", "build_dataset", "load_dataset", "save_dataset"]


def __getattr__(name):
    if name in ("GENERATORS", "build_dataset"):
        from spurcomp.data import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

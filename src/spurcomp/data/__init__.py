"""Datasets behind one contract: see :mod:`spurcomp.data.io`."""
from spurcomp.data.io import FEATURE_CODES, Dataset, Split, load_dataset, save_dataset
from spurcomp.data.registry import GENERATORS, build_dataset

__all__ = ["FEATURE_CODES", "GENERATORS", "Dataset", "Split", "build_dataset", "load_dataset", "save_dataset"]

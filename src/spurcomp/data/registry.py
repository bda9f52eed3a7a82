"""Dataset generators by name, and the one entry point that builds a dataset from its config section."""
from __future__ import annotations

from spurcomp.data import moonstar, parity, semisynthetic
from spurcomp.data.io import Dataset

GENERATORS = {"parity": parity.generate, "moonstar": moonstar.generate, **semisynthetic.GENERATORS}


def build_dataset(spec: dict, seed: int) -> Dataset:
    """Build the dataset described by a ``datasets.NAME`` config section (``generator`` plus its parameters)."""
    spec = dict(spec)
    name = spec.pop("generator", None)
    if name not in GENERATORS:
        raise ValueError(f"unknown dataset generator {name!r}; allowed: {sorted(GENERATORS)}")
    spec.setdefault("seed", seed)
    try:
        return GENERATORS[name](**spec)
    except TypeError as err:
        raise ValueError(f"bad parameters for dataset generator {name!r}: {err}") from None

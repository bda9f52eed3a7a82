"""Dataset generators by name, and the one entry point that builds a dataset from its config section."""
from __future__ import annotations

from spurcomp.data import celeba, moonstar, parity, semisynthetic, standard, waterbirds
from spurcomp.data.io import Dataset
from spurcomp.data.versions import GENERATOR_VERSIONS
from spurcomp.runtime import PlainError

GENERATORS = {"parity": parity.generate, "moonstar": moonstar.generate, **semisynthetic.GENERATORS,
              "waterbirds": waterbirds.waterbirds, "celeba": celeba.celeba, **standard.GENERATORS}


def build_dataset(spec: dict, seed: int) -> Dataset:
    """Build the dataset described by a ``datasets.NAME`` config section (``generator`` plus its parameters)."""
    spec = dict(spec)
    name = spec.pop("generator", None)
    if name not in GENERATORS:
        raise ValueError(f"unknown dataset generator {name!r}; allowed: {sorted(GENERATORS)}")
    # the dataset job's params carry the version the file is built for (spurcomp.study.dataset_job)
    version = spec.pop("generator_version", GENERATOR_VERSIONS[name])
    if version != GENERATOR_VERSIONS[name]:
        raise ValueError(f"dataset generator {name!r} is at version {GENERATOR_VERSIONS[name]}, not {version}")
    spec.pop("background_masks", None)  # read by the evaluations, not the generator
    allow_fallback = spec.pop("allow_fallback", True)
    spec.setdefault("seed", seed)
    try:
        dataset = GENERATORS[name](**spec)
    except TypeError as err:
        raise ValueError(f"bad parameters for dataset generator {name!r}: {err}") from None
    degraded = dataset.metadata.get("degraded")
    if degraded and not allow_fallback:
        raise DegradedData(f"dataset generator {name!r} could only build degraded data ("
                           + "; ".join(f"{what}: {why}" for what, why in sorted(degraded.items()))
                           + "), and its config section says allow_fallback: false; make the original data readable "
                             "(see the reason), or set allow_fallback: true to build with the fallback, named as such "
                             "in every figure, table and claim")
    return dataset


class DegradedData(PlainError):
    """A dataset that a fallback would degrade, where its config refuses fallbacks (``allow_fallback: false``)."""

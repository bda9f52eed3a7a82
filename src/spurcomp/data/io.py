"""The dataset file contract: one ``.npz`` per dataset.

Per split (``train``, ``test``): ``{split}_x`` inputs (float32, the model's input shape), ``{split}_y`` class
label, ``{split}_b`` bias (spurious) label, ``{split}_feature`` per-sample per-feature codes with the shape of
``x`` (``FEATURE_CODES``: noise / core / spurious). ``metadata`` is a JSON string: generator, version,
parameters, source of base data, rho_train, rho_test, seed, input range.

A split of photographs read lazily (``spurcomp.data.files``) has, instead of ``x`` and ``feature``:
``{split}_files`` the image paths under ``{split}_image_root`` and ``{split}_image_read`` (JSON: ``size``,
``transform``); its features are all core (photographs have no pixel masks).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spurcomp.runtime import temporary_sibling

FEATURE_CODES = {"noise": 0, "core": 1, "spurious": 2}
SPLITS = ("train", "test")


@dataclass
class Split:
    x: np.ndarray
    y: np.ndarray
    b: np.ndarray
    feature: np.ndarray  # uint8 codes, same shape as x

    def __post_init__(self):
        n = len(self.x)
        if not (len(self.y) == len(self.b) == n and self.feature.shape == self.x.shape):
            raise ValueError(
                f"inconsistent split: x {self.x.shape}, y {self.y.shape}, b {self.b.shape}, "
                f"feature {self.feature.shape}"
            )

    def mask(self, kind: str) -> np.ndarray:
        """Boolean mask of the ``core``, ``spurious`` or ``noise`` features."""
        if kind not in FEATURE_CODES:
            raise ValueError(f"unknown feature kind {kind!r}; allowed: {sorted(FEATURE_CODES)}")
        if self.feature.size and not any(self.feature.strides):
            # one code for every feature (photographs): a view, not an array the size of the images
            return np.broadcast_to(self.feature.flat[0] == FEATURE_CODES[kind], self.feature.shape)
        return self.feature == FEATURE_CODES[kind]


@dataclass
class Dataset:
    train: Split
    test: Split
    metadata: dict

    @property
    def num_classes(self) -> int:
        return int(self.metadata["num_classes"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])


def dataset_metadata(generator: str, *, source: str, parameters: dict, rho_train: float, rho_test: float, seed: int,
                     num_classes: int, input_range: tuple[float, float] = (0.0, 1.0), **extra) -> dict:
    """A dataset file's metadata, the same keys for every generator: what built it (generator and its version,
    source, parameters, seed), its bias-conflicting fractions, classes and input range; ``extra``: what a generator
    adds (the base images it drew from, its feature masks, its groups)."""
    from spurcomp.data.versions import GENERATOR_VERSIONS

    return {"generator": generator, "version": GENERATOR_VERSIONS[generator], "source": source,
            "parameters": parameters, "rho_train": rho_train, "rho_test": rho_test, "seed": seed,
            "num_classes": num_classes, "input_range": list(input_range), **extra}


def conflicting_fraction(split: Split) -> float:
    """The fraction of a split's samples whose bias label differs from the class (0 for an empty split)."""
    return float(np.mean(split.y != split.b)) if len(split.y) else 0.0


def write_npz(path: str | os.PathLike, **arrays) -> None:
    """``arrays`` into the compressed NumPy file ``path``, written then renamed: a killed job never leaves a
    truncated file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def save_dataset(path: str | os.PathLike, dataset: Dataset) -> None:
    from spurcomp.data.files import ImageFiles

    arrays = {}
    for name in SPLITS:
        split = getattr(dataset, name)
        arrays.update({f"{name}_y": split.y.astype(np.int64), f"{name}_b": split.b.astype(np.int64)})
        if isinstance(split.x, ImageFiles):
            arrays.update({f"{name}_files": split.x.files, f"{name}_image_root": np.array(str(split.x.root)),
                           f"{name}_image_read": np.array(json.dumps({"size": split.x.size,
                                                                      "transform": split.x.transform}))})
        else:
            arrays.update({f"{name}_x": split.x.astype(np.float32), f"{name}_feature": split.feature.astype(np.uint8)})
    arrays["metadata"] = np.array(json.dumps(dataset.metadata, sort_keys=True))
    write_npz(path, **arrays)


def load_dataset(path: str | os.PathLike, read_workers: int | None = None, cache_bytes: int = 0) -> Dataset:
    """The dataset in ``path``. A lazily read split's images are decoded by ``read_workers`` processes (default:
    the CPUs this process may use) and kept in memory once decoded if the split's bytes fit ``cache_bytes``."""
    from spurcomp.data.files import ImageFiles

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset file {path} does not exist (build it with `spurcomp dataset`)")
    splits = {}
    with np.load(path, allow_pickle=False) as f:
        for name in SPLITS:
            y, b = f[f"{name}_y"], f[f"{name}_b"]
            if f"{name}_files" in f:
                read = json.loads(str(f[f"{name}_image_read"]))
                x = ImageFiles(str(f[f"{name}_image_root"]), f[f"{name}_files"], read["size"], read["transform"],
                               read_workers, cache_bytes)
                splits[name] = Split(x, y, b, np.broadcast_to(np.uint8(FEATURE_CODES["core"]), x.shape))
            else:
                splits[name] = Split(f[f"{name}_x"], y, b, f[f"{name}_feature"])
        metadata = json.loads(str(f["metadata"]))
    return Dataset(metadata=metadata, **splits)


def load_metadata(path: str | os.PathLike) -> dict:
    """A dataset file's metadata alone (its arrays are not read)."""
    with np.load(path, allow_pickle=False) as f:
        return json.loads(str(f["metadata"]))


def bias_labels(y: np.ndarray, rho: float, rng: np.random.Generator, num_classes: int) -> np.ndarray:
    """Bias labels for class labels ``y`` with exactly ``round(rho * n_c)`` conflicting samples in each class c.

    Bias-aligned samples get ``b = y``; bias-conflicting ones a bias label drawn uniformly from the other classes.
    Stratifying by class makes a rho = 0.5 binary test set exactly balanced over the four (y, b) groups.
    Shared by every generator so that rho means the same thing everywhere.
    """
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"rho must be in [0, 1], got {rho}")
    conflicting = np.zeros(len(y), dtype=bool)
    for c in range(num_classes):
        members = np.flatnonzero(y == c)
        conflicting[rng.permutation(members)[: int(round(rho * len(members)))]] = True
    offset = rng.integers(1, num_classes, size=len(y)) if num_classes > 2 else np.ones(len(y), dtype=np.int64)
    return np.where(conflicting, (y + offset) % num_classes, y).astype(np.int64)


def stratified_subset(y: np.ndarray, b: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The sorted indices of ``n`` samples, each (y, b) group represented in proportion to its size (to within
    one sample), drawn by a seeded permutation: the same subset for every run of a dataset."""
    order = np.random.default_rng(seed).permutation(len(y))
    groups = np.unique(np.stack([y[order], b[order]], axis=1), axis=0, return_inverse=True)[1].ravel()
    rank = np.zeros(len(order))
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        rank[members] = (np.arange(len(members)) + 0.5) / len(members)  # the k-th of a group, as a share of it
    return np.sort(order[np.argsort(rank, kind="stable")[:n]])


def balanced_labels(n: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` class labels, as equal in count as ``n`` allows, in random order."""
    return rng.permutation(np.arange(n) % num_classes).astype(np.int64)


def split_streams(seed: int) -> dict[str, np.random.Generator]:
    """One random stream per split, from the dataset's seed: the test set does not change with ``n_train``."""
    train, test = np.random.SeedSequence(seed).spawn(2)
    return {"train": np.random.default_rng(train), "test": np.random.default_rng(test)}


def seeded_subset(available: int, n: int, rng: np.random.Generator, too_few: str) -> np.ndarray:
    """``n`` of ``available`` items, drawn without replacement, in order; ``too_few`` is the error when there are
    not enough."""
    if n > available:
        raise ValueError(too_few)
    return np.sort(rng.choice(available, size=n, replace=False))


def save_background_masks(path: str | os.PathLike, background: np.ndarray, metadata: dict) -> None:
    """A dataset's cached background masks (``spurcomp.segmentation``): ``test_background`` bool (N, H, W), one
    per test image, and a JSON ``metadata`` (the segmenter, its mIoU)."""
    write_npz(path, test_background=background.astype(bool), metadata=np.array(json.dumps(metadata)))


def load_background_masks(path: str | os.PathLike, dataset: Dataset) -> tuple[np.ndarray, dict]:
    """The background masks of ``dataset``'s test images, checked against its test set's size."""
    with np.load(path, allow_pickle=False) as f:
        background, metadata = f["test_background"], json.loads(str(f["metadata"]))
    expected = (len(dataset.test.x), *dataset.test.x.shape[2:])
    if background.shape != expected:
        raise ValueError(f"background masks {path} have shape {background.shape}, but the dataset's test images need "
                         f"{expected}: the masks are stale; delete the file to recompute them")
    return background, metadata


# -- a dataset's summary: what the figures drawn from datasets (Fig. 2, Prop. 1) and the fidelity manifest read ----

EXAMPLES_PER_KIND = 4  # Fig. 2's images per row of each kind (bias-aligned, bias-conflicting)


@dataclass
class DatasetSummary:
    """A dataset's metadata, its training labels (y, b) and a few training images: the bias-aligned and
    bias-conflicting examples Fig. 2 shows (:func:`example_indices`). Kilobytes where the dataset is megabytes, so
    a results bundle carries it and the figures drawn from datasets need no dataset file."""

    metadata: dict
    train_y: np.ndarray
    train_b: np.ndarray
    example_index: np.ndarray  # training-set indices of the examples
    example_x: np.ndarray

    @property
    def num_classes(self) -> int:
        return int(self.metadata["num_classes"])

    def examples(self, kind: str) -> list[tuple[int, np.ndarray]]:
        """(training index, image) of the examples of ``kind`` (``aligned``: b = y; ``conflicting``: b ≠ y)."""
        aligned = self.train_y[self.example_index] == self.train_b[self.example_index]
        chosen = aligned if kind == "aligned" else ~aligned
        return [(int(i), x) for i, x in zip(self.example_index[chosen], self.example_x[chosen])]


def example_indices(y: np.ndarray, b: np.ndarray, num_classes: int, per_kind: int = EXAMPLES_PER_KIND) -> np.ndarray:
    """``per_kind`` bias-aligned then ``per_kind`` bias-conflicting training indices, one per class where possible
    (the first of each class in index order, then the first others), so the examples show different labels."""
    picked = []
    for pool in (np.flatnonzero(y == b), np.flatnonzero(y != b)):
        by_class = [pool[y[pool] == c][:1] for c in range(num_classes)]
        candidates = np.concatenate([c for c in by_class if len(c)] + [pool])
        picked += list(dict.fromkeys(candidates.tolist()))[:per_kind]
    return np.array(picked, dtype=np.int64)


def summarise_dataset(dataset: Dataset) -> DatasetSummary:
    train = dataset.train
    index = example_indices(train.y, train.b, dataset.num_classes)
    images = np.stack([np.asarray(train.x[i], dtype=np.float32) for i in index]) if len(index) else \
        np.zeros((0, *dataset.input_shape), np.float32)
    return DatasetSummary(dataset.metadata, np.asarray(train.y), np.asarray(train.b), index, images)


def save_summary(path: str | os.PathLike, summary: DatasetSummary) -> None:
    write_npz(path, metadata=np.array(json.dumps(summary.metadata, sort_keys=True)), train_y=summary.train_y,
              train_b=summary.train_b, example_index=summary.example_index, example_x=summary.example_x)


def load_summary(path: str | os.PathLike) -> DatasetSummary:
    with np.load(path, allow_pickle=False) as f:
        return DatasetSummary(json.loads(str(f["metadata"])), f["train_y"], f["train_b"], f["example_index"],
                              f["example_x"])

"""Waterbirds (Sagawa et al. 2020): a bird (y: 0 landbird, 1 waterbird; the core feature) on a land or water
scene (b, the place; the spurious feature). Training set: 95% of each class on its own kind of scene
(``rho_train`` 0.05 conflicting); test set: each class half on land, half on water. Worst-group accuracy is over
the four (y, b) groups.

Two sources:

- ``folder``: the official release in ``data_root/waterbird_complete95_forest2water2/`` (Sagawa et al.'s
  group_DRO tarball) or ``data_root/waterbirds_v1.0/`` (the same images as WILDS ships them) (``metadata.csv`` with
  ``img_filename, y, split, place``; split 0 train, 2 test; the validation split 1 is not used). Images are resized
  and centre-cropped as the standard evaluation transform does (resize to 256/224 of the size, crop the size),
  to ``image_size``. Its groups are the release's own (``rho_train`` is not used). No pixel masks: core is every
  pixel (a background mask needs a segmenter). ``lazy: true`` reads the images from their files when used.
- ``embedded`` (offline, the default): a procedural stand-in with the same group structure, named as such
  everywhere: a "landbird" (a triangle or a cross) or a "waterbird" (a crescent or a ring) of random colour, size
  and rotation on a land scene (smooth green-brown texture) or a water scene (blue, horizontal waves); the masks
  are exact (core: the bird's pixels; spurious: the scene's).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from spurcomp.data.files import check_lazy, lazy_parameter, photo_split
from spurcomp.data.images import random_colour, shape_mask
from spurcomp.data.io import (FEATURE_CODES, Dataset, Split, bias_labels, conflicting_fraction, dataset_metadata,
                              seeded_subset, split_streams)

# the release's folder as Sagawa et al.'s tarball names it, and as WILDS does (the same metadata.csv and images)
RELEASES = ("waterbird_complete95_forest2water2", "waterbirds_v1.0")
SPLIT_CODES = {"train": 0, "test": 2}  # metadata.csv's split column (1: validation)
BIRDS = {0: ("triangle", "cross"), 1: ("crescent", "ring")}
CORE, SPURIOUS = FEATURE_CODES["core"], FEATURE_CODES["spurious"]


def _scene(place: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A land (0) or water (1) scene, (3, size, size) in [0, 1]."""
    grid = np.arange(size) / size
    if place == 0:
        texture = gaussian_filter(rng.normal(size=(size, size)), sigma=size / 10)
        texture /= texture.std() + 1e-8
        base = np.array([0.35, 0.45, 0.2]) + rng.uniform(-0.06, 0.06, 3)
        return np.clip(base[:, None, None] + 0.08 * texture[None] * np.array([1.0, 1.2, 0.6])[:, None, None], 0, 1)
    waves = np.sin(2 * np.pi * (grid[:, None] * rng.uniform(4, 8) + rng.uniform())) * np.ones((1, size))
    base = np.array([0.15, 0.35, 0.7]) + rng.uniform(-0.06, 0.06, 3)
    return np.clip(base[:, None, None] + 0.07 * waves[None] + 0.02 * rng.normal(size=(3, size, size)), 0, 1)


def _standin_split(y: np.ndarray, b: np.ndarray, size: int, rng: np.random.Generator) -> Split:
    n = len(y)
    x = np.empty((n, 3, size, size), dtype=np.float32)
    feature = np.empty((n, 3, size, size), dtype=np.uint8)
    grid = np.arange(size) - (size - 1) / 2
    xx, yy = np.meshgrid(grid, -grid)
    for i in range(n):
        radius = size * rng.uniform(0.22, 0.32)
        cx, cy = rng.uniform(-0.12, 0.12, size=2) * size
        angle = rng.uniform(-np.pi / 4, np.pi / 4)
        dx, dy = (xx - cx) / radius, (yy - cy) / radius
        u, v = np.cos(angle) * dx + np.sin(angle) * dy, -np.sin(angle) * dx + np.cos(angle) * dy
        mask = shape_mask(BIRDS[int(y[i])][rng.integers(2)], u, v)
        bird = random_colour(rng)[:, None, None] * (1.0 + 0.2 * (u - v) / 2)[None]
        x[i] = np.clip(np.where(mask[None], bird, _scene(int(b[i]), size, rng)), 0, 1)
        feature[i] = np.where(mask, CORE, SPURIOUS)[None]
    return Split(x=x, y=y, b=b, feature=feature)


def release_folder(data_root: str | Path) -> Path:
    """The release's folder under ``data_root``: either layout (the first that holds a metadata.csv)."""
    for name in RELEASES:
        if (Path(data_root) / name / "metadata.csv").exists():
            return Path(data_root) / name
    raise FileNotFoundError(
        f"Waterbirds not found: none of {[str(Path(data_root) / name / 'metadata.csv') for name in RELEASES]} "
        f"exists. Put the official release (the folder {RELEASES[0]}/ of Sagawa et al.'s tarball, or {RELEASES[1]}/ "
        f"as WILDS ships it, with metadata.csv and the images) under data_root, or use source: embedded (the offline "
        f"stand-in)")


def _read_metadata(folder: Path) -> list[dict]:
    path = folder / "metadata.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"img_filename", "y", "split", "place"} - set(rows[0] if rows else {})
    if missing:
        raise ValueError(f"{path} lacks the columns {sorted(missing)} of the official metadata.csv")
    return rows


def _folder_split(rows: list[dict], folder: Path, split: str, n: int | None, size: int,
                  rng: np.random.Generator, lazy: bool) -> Split:
    chosen = [row for row in rows if int(row["split"]) == SPLIT_CODES[split]]
    if n is not None:
        chosen = [chosen[i] for i in seeded_subset(len(chosen), n, rng, f"Waterbirds' {split} split has "
                                                   f"{len(chosen)} images, fewer than n_{split} = {n}")]
    return photo_split(folder, [row["img_filename"] for row in chosen], [int(row["y"]) for row in chosen],
                       [int(row["place"]) for row in chosen], size, "resize_crop", lazy)


def waterbirds(*, seed: int, source: str = "embedded", data_root: str = "data", image_size: int = 64,
               n_train: int | None = 2000, n_test: int | None = 1000, rho_train: float = 0.05,
               lazy: bool = False) -> Dataset:
    streams = split_streams(seed)
    check_lazy(lazy, source, "Waterbirds")
    if source == "embedded":
        if n_train is None or n_test is None:
            raise ValueError("the Waterbirds stand-in needs n_train and n_test (numbers of images to draw)")
        splits = {}
        for split, n, rho in (("train", n_train, rho_train), ("test", n_test, 0.5)):
            rng = streams[split]
            y = rng.permutation(np.arange(n) % 2).astype(np.int64)
            splits[split] = _standin_split(y, bias_labels(y, rho, rng, 2), image_size, rng)
        described, masks = "procedural Waterbirds stand-in", "core: the bird's pixels; spurious: the scene's"
    elif source == "folder":
        folder = release_folder(data_root)
        rows = _read_metadata(folder)
        splits = {split: _folder_split(rows, folder, split, n, image_size, streams[split], lazy)
                  for split, n in (("train", n_train), ("test", n_test))}
        described, masks = f"Waterbirds ({folder})", "core: every pixel (no background masks without a segmenter)"
    else:
        raise ValueError(f"unknown Waterbirds source {source!r}; allowed: ['embedded', 'folder']")
    metadata = dataset_metadata(
        "waterbirds", source=source,
        parameters={"n_train": n_train, "n_test": n_test, "image_size": image_size, **lazy_parameter(lazy)},
        rho_train=rho_train if source == "embedded" else conflicting_fraction(splits["train"]),
        rho_test=conflicting_fraction(splits["test"]), seed=seed, num_classes=2, base_images=[described],
        feature_masks=masks, groups="y: 0 landbird, 1 waterbird; b: 0 land, 1 water")
    return Dataset(**splits, metadata=metadata)

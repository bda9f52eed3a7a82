"""CelebA with a spurious attribute (Sagawa et al. 2020): the target attribute (``target``, default
``Blond_Hair``) is the label y, the spurious attribute (``spurious``, default ``Male``) the bias label b. The paper's
sentence names them the other way round; the pair is a config choice. Worst-group accuracy is over the four
(y, b) groups.

Two sources:

- ``folder``: the official release in ``data_root/celeba/`` (torchvision's layout: ``img_align_celeba/``,
  ``list_attr_celeba.txt``, ``list_eval_partition.txt``; partition 0 is train, 2 test, the validation partition 1
  is not used). Each image's centred square is resized to ``image_size``. A seeded subset of ``n_train`` /
  ``n_test`` images (``null``: the whole split; at 224 px with ``lazy: true``, which reads the images from their
  files when used, as the whole release does not fit one in-memory dataset file). No pixel masks: core is every
  pixel.
- ``embedded`` (offline, the default): a procedural stand-in with the release's training group proportions
  (non-blond female 71,629, non-blond male 66,874, blond female 22,880, blond male 1,387), named as such
  everywhere: a face (skin-toned ellipse) whose hair is blond or dark (y, the core feature: the hair's pixels; the
  two overlap in brightness and differ in hue, so the cue is subtle) and which has a large dark beard or not (b,
  the spurious feature, the salient one: the lower face's pixels). The attributes are the default pair's;
  its test set has the same proportions (as the release's test split roughly does).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spurcomp.data.files import check_lazy, lazy_parameter, photo_split
from spurcomp.data.io import (FEATURE_CODES, Dataset, Split, conflicting_fraction, dataset_metadata, seeded_subset,
                              split_streams)

PARTITIONS = {"train": 0, "test": 2}  # list_eval_partition.txt (1: validation)
# the release's training groups for Blond_Hair x Male: (y, b) -> count
TRAIN_GROUPS = {(0, 0): 71629, (0, 1): 66874, (1, 0): 22880, (1, 1): 1387}
CORE, SPURIOUS, NOISE = FEATURE_CODES["core"], FEATURE_CODES["spurious"], FEATURE_CODES["noise"]


def group_counts(n: int) -> dict[tuple[int, int], int]:
    """``n`` split over the four groups in the release's training proportions (largest remainders)."""
    total = sum(TRAIN_GROUPS.values())
    exact = {group: n * count / total for group, count in TRAIN_GROUPS.items()}
    counts = {group: int(value) for group, value in exact.items()}
    for group in sorted(exact, key=lambda g: exact[g] - counts[g], reverse=True)[: n - sum(counts.values())]:
        counts[group] += 1
    return counts


def _face(blond: int, beard: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A face image (3, size, size) and its feature codes (size, size)."""
    grid = (np.arange(size) - (size - 1) / 2) / (size / 2)
    xx, yy = np.meshgrid(grid, -grid)
    cx, cy = rng.uniform(-0.05, 0.05, 2)
    width, height = rng.uniform(0.5, 0.6), rng.uniform(0.65, 0.75)
    face = ((xx - cx) / width) ** 2 + ((yy - cy) / height) ** 2 <= 1
    hair = (((xx - cx) / (width + 0.12)) ** 2 + ((yy - cy - 0.1) / (height + 0.12)) ** 2 <= 1) & ~face & \
        (yy > cy - 0.2)
    hair |= face & (yy > cy + height * rng.uniform(0.45, 0.6))  # the fringe
    chin = face & (yy < cy - height * 0.1)
    background = rng.uniform(0.2, 0.8, 3)[:, None, None] * np.ones((3, size, size))
    skin = np.array([0.85, 0.65, 0.5]) * rng.uniform(0.7, 1.1)
    # blond and dark hair overlap in brightness and differ in hue (green / red: 0.85 vs 0.70): the core feature is
    # there but subtle, while a beard is large and dark, so the spurious feature is the easier one to learn, as in
    # the real data (version 1 made the hair the obvious cue and no model used the beard)
    hair_colour = (np.array([0.80, 0.68, 0.42]) if blond else np.array([0.66, 0.46, 0.32])) * rng.uniform(0.7, 1.2)
    image = np.where(face[None], skin[:, None, None], background)
    if beard:
        image = np.where(chin[None], (skin * 0.15)[:, None, None], image)
    image = np.where(hair[None], hair_colour[:, None, None], image)
    image = np.clip(image + 0.03 * rng.normal(size=image.shape), 0, 1).astype(np.float32)
    codes = np.where(hair, CORE, np.where(chin, SPURIOUS, NOISE)).astype(np.uint8)
    return image, codes


def _standin_split(n: int, size: int, rng: np.random.Generator) -> Split:
    labels = [group for group, count in group_counts(n).items() for _ in range(count)]
    labels = [labels[i] for i in rng.permutation(len(labels))]
    x = np.empty((n, 3, size, size), dtype=np.float32)
    feature = np.empty((n, 3, size, size), dtype=np.uint8)
    for i, (y, b) in enumerate(labels):
        x[i], codes = _face(y, b, size, rng)
        feature[i] = codes[None]
    return Split(x=x, y=np.array([y for y, _ in labels], dtype=np.int64),
                 b=np.array([b for _, b in labels], dtype=np.int64), feature=feature)


def _read_release(folder: Path, target: str, spurious: str) -> tuple[list[str], dict[str, np.ndarray], dict]:
    attributes, partition = folder / "list_attr_celeba.txt", folder / "list_eval_partition.txt"
    for path in (attributes, partition, folder / "img_align_celeba"):
        if not path.exists():
            raise FileNotFoundError(
                f"CelebA not found: {path} is missing. Put the official release (torchvision's layout: "
                f"img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt) in {folder}, or use source: "
                f"embedded (the offline stand-in)")
    lines = attributes.read_text().splitlines()
    names = lines[1].split()
    for attribute in (target, spurious):
        if attribute not in names:
            raise ValueError(f"CelebA has no attribute {attribute!r}; allowed: {names}")
    files, values = [], []
    for line in lines[2:]:
        parts = line.split()
        if parts:
            files.append(parts[0])
            values.append([int(v) for v in parts[1:]])
    table = np.array(values)
    split_of = dict(line.split() for line in partition.read_text().splitlines() if line.strip())
    columns = {name: table[:, names.index(name)] > 0 for name in (target, spurious)}
    return files, columns, split_of


def celeba(*, seed: int, source: str = "embedded", data_root: str = "data", image_size: int = 64,
           n_train: int | None = 2000, n_test: int | None = 1000, target: str = "Blond_Hair",
           spurious: str = "Male", lazy: bool = False) -> Dataset:
    streams = split_streams(seed)
    check_lazy(lazy, source, "CelebA")
    if source == "embedded":
        if n_train is None or n_test is None:
            raise ValueError("the CelebA stand-in needs n_train and n_test (numbers of images to draw)")
        if (target, spurious) != ("Blond_Hair", "Male"):
            raise ValueError(f"the CelebA stand-in draws Blond_Hair (core) and Male (spurious) only, not {target!r} "
                             f"and {spurious!r}; use source: folder for other attributes")
        splits = {split: _standin_split(n, image_size, streams[split])
                  for split, n in (("train", n_train), ("test", n_test))}
        described, masks = "procedural CelebA stand-in", "core: the hair's pixels; spurious: the chin's (beard or not)"
    elif source == "folder":
        folder = Path(data_root) / "celeba"
        files, columns, split_of = _read_release(folder, target, spurious)
        splits = {}
        for split, n in (("train", n_train), ("test", n_test)):
            members = [i for i, name in enumerate(files) if int(split_of.get(name, -1)) == PARTITIONS[split]]
            if n is not None:
                members = [members[i] for i in seeded_subset(len(members), n, streams[split], (
                    f"CelebA's {split} partition has {len(members)} images, fewer than n_{split} = {n}"))]
            splits[split] = photo_split(folder / "img_align_celeba", [files[i] for i in members],
                                        columns[target][members], columns[spurious][members], image_size,
                                        "crop_resize", lazy)
        described, masks = f"CelebA ({folder})", "core: every pixel (no masks)"
    else:
        raise ValueError(f"unknown CelebA source {source!r}; allowed: ['embedded', 'folder']")

    metadata = dataset_metadata(
        "celeba", source=source, parameters={"n_train": n_train, "n_test": n_test, "image_size": image_size,
                                             "target": target, "spurious": spurious, **lazy_parameter(lazy)},
        rho_train=conflicting_fraction(splits["train"]), rho_test=conflicting_fraction(splits["test"]), seed=seed,
        num_classes=2, base_images=[described], feature_masks=masks,
        groups=f"y: {target} (1: has it); b: {spurious} (1: has it)")
    return Dataset(**splits, metadata=metadata)

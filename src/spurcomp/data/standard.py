"""Standard classification data (paper sec. 4.1, 5: CIFAR-10, CIFAR-100, ImageNet-1k): no known spurious attribute.

The dataset contract asks for a bias label: here ``b = y`` for every sample (every sample counts as bias-aligned,
``rho`` 0), so the unbiased test accuracy is the class-balanced accuracy and the worst-group accuracy the worst
class's; the paper plots the plain test accuracy. Spurious feature use is measured instead by the attribution
entropy and the background attribution percentage (background masks from a segmenter, ``spurcomp.segmentation``).

Sources:

- ``torchvision`` (CIFAR-10/100): the python-version batches in ``data_root/cifar-10-batches-py/`` or
  ``data_root/cifar-100-python/`` (downloaded there by torchvision with ``download: true``); ``n_train`` /
  ``n_test`` is a seeded subset of the official split.
- ``folder`` (ImageNet-1k): torchvision's ImageFolder layout, ``data_root/imagenet/train/<class>/<image>`` and
  ``data_root/imagenet/val/<class>/<image>`` (the validation images sorted into class folders, as the usual
  preparation script does); ``classes: N`` keeps the first N class folders in sorted order; images resized and
  centre-cropped to ``image_size`` (the standard 256 / 224 evaluation transform). ``n_train`` / ``n_test``: a seeded
  subset (null: the whole split); ``lazy: true`` reads the images from their files when used
  (``spurcomp.data.files``), for the whole of ImageNet-1k.
- ``embedded`` (offline, the default): the procedural stand-in of ``spurcomp.data.images`` (coloured shapes on
  smooth textures, *not* the real data, named as such everywhere): 10 classes (shapes) for CIFAR-10, 100 (shape x
  surface pattern) for CIFAR-100, 10 or 100 at ``image_size`` for ImageNet. Its object masks are exact: core is
  the object, noise its background. The real releases have no masks: core is every pixel.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spurcomp.data.files import check_lazy, lazy_parameter, photo_split
from spurcomp.data.images import load_cifar, procedural_objects
from spurcomp.data.io import FEATURE_CODES, Dataset, Split, dataset_metadata, seeded_subset, split_streams

CORE, NOISE = FEATURE_CODES["core"], FEATURE_CODES["noise"]
IMAGENET_FOLDER = "imagenet"
IMAGENET_SPLITS = {"train": "train", "test": "val"}
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
STANDIN_MASKS = "core: the object's pixels; noise: its background (exact masks of the procedural stand-in)"
REAL_MASKS = "core: every pixel (the release has no object masks; background masks come from a segmenter)"


def _split(x: np.ndarray, y: np.ndarray, object_mask: np.ndarray | None) -> Split:
    if object_mask is None:
        feature = np.broadcast_to(np.uint8(CORE), x.shape)  # every pixel core: one code, not an array of them
    else:
        feature = np.repeat(np.where(object_mask, CORE, NOISE)[:, None], x.shape[1], axis=1).astype(np.uint8)
    return Split(x=x.astype(np.float32), y=y, b=y.copy(), feature=feature)


def _metadata(generator: str, source: str, described: str, parameters: dict, seed: int, num_classes: int,
              masks: str) -> dict:
    return dataset_metadata(generator, source=source, parameters=parameters, rho_train=0.0, rho_test=0.0, seed=seed,
                            num_classes=num_classes, base_images=[described], feature_masks=masks,
                            bias_label="none: b = y (standard classification)")


def _too_few(name: str, split: str, available: int, n: int) -> str:
    return f"{name}'s {split} split has {available} images, fewer than n_{split} = {n}"


def _cifar(classes: int, n_train: int, n_test: int, seed: int, source: str, data_root: str,
           download: bool) -> Dataset:
    streams, splits, described = split_streams(seed), {}, ""
    name = f"CIFAR-{classes}"
    for split, n in (("train", n_train), ("test", n_test)):
        rng = streams[split]
        pool = load_cifar(classes, split, n, rng, source, data_root, download)
        index = seeded_subset(len(pool.labels), n, rng, _too_few(name, split, len(pool.labels), n))
        mask = None if pool.object_mask is None else pool.object_mask[index]
        splits[split], described = _split(pool.images[index], pool.labels[index], mask), pool.description
    return Dataset(**splits, metadata=_metadata(f"cifar{classes}", source, described,
                                                {"n_train": n_train, "n_test": n_test}, seed, classes,
                                                STANDIN_MASKS if source == "embedded" else REAL_MASKS))


def cifar10(*, n_train: int, n_test: int, seed: int, source: str = "embedded", data_root: str = "data",
            download: bool = False) -> Dataset:
    return _cifar(10, n_train, n_test, seed, source, data_root, download)


def cifar100(*, n_train: int, n_test: int, seed: int, source: str = "embedded", data_root: str = "data",
             download: bool = False) -> Dataset:
    return _cifar(100, n_train, n_test, seed, source, data_root, download)


def imagenet_classes(root: Path, limit: int | None) -> list[str]:
    """The class folders of ImageFolder's training split, sorted (ImageFolder's label order), the first ``limit``."""
    train = root / IMAGENET_SPLITS["train"]
    if not train.is_dir():
        raise FileNotFoundError(
            f"ImageNet not found: {train} is missing. Put the release in torchvision's ImageFolder layout under "
            f"{root} (train/<class>/<image>, val/<class>/<image>), or use source: embedded (the offline stand-in)")
    classes = sorted(p.name for p in train.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"{train} has no class folders (ImageFolder layout: train/<class>/<image>)")
    if limit is not None and limit > len(classes):
        raise ValueError(f"classes: {limit} asked for, but {train} has {len(classes)} class folders")
    return classes[:limit]


def _imagenet_files(root: Path, split: str, classes: list[str]) -> tuple[list[str], np.ndarray]:
    """The images of ``split`` (paths relative to ``root``) and their labels."""
    files, labels = [], []
    for label, name in enumerate(classes):
        folder = root / IMAGENET_SPLITS[split] / name
        if not folder.is_dir():
            raise FileNotFoundError(f"ImageNet's {IMAGENET_SPLITS[split]} split has no folder for class {name!r} "
                                    f"({folder}); sort the validation images into class folders")
        found = sorted(entry.name for entry in os.scandir(folder) if Path(entry.name).suffix.lower() in IMAGE_SUFFIXES)
        files += [f"{IMAGENET_SPLITS[split]}/{name}/{file}" for file in found]
        labels += [label] * len(found)
    return files, np.array(labels, dtype=np.int64)


def imagenet(*, seed: int, n_train: int | None = 2000, n_test: int | None = 1000, source: str = "embedded",
             data_root: str = "data", image_size: int = 64, classes: int | None = None, lazy: bool = False) -> Dataset:
    streams, splits = split_streams(seed), {}
    check_lazy(lazy, source, "ImageNet")
    if source == "embedded":
        if n_train is None or n_test is None:
            raise ValueError("the ImageNet stand-in needs n_train and n_test (numbers of images to draw)")
        classes = 10 if classes is None else classes
        for split, n in (("train", n_train), ("test", n_test)):
            images, labels, masks = procedural_objects(n, streams[split], size=image_size, classes=classes)
            splits[split] = _split(images, labels, masks)
        described = (f"procedural ImageNet stand-in (embedded: {classes} classes of coloured shapes on textures, "
                     f"{image_size}x{image_size})")
        masks, num_classes = STANDIN_MASKS, classes
    elif source == "folder":
        root = Path(data_root) / IMAGENET_FOLDER
        names = imagenet_classes(root, classes)
        for split, n in (("train", n_train), ("test", n_test)):
            files, labels = _imagenet_files(root, split, names)
            index = np.arange(len(files)) if n is None else \
                seeded_subset(len(files), n, streams[split], _too_few("ImageNet", split, len(files), n))
            splits[split] = photo_split(root, [files[i] for i in index], labels[index], labels[index], image_size,
                                        "resize_crop", lazy)
        described, masks, num_classes = f"ImageNet-1k ({root}, {len(names)} classes)", REAL_MASKS, len(names)
    else:
        raise ValueError(f"unknown ImageNet source {source!r}; allowed: ['embedded', 'folder']")
    return Dataset(**splits, metadata=_metadata(
        "imagenet", source, described, {"n_train": n_train, "n_test": n_test, "image_size": image_size,
                                        "classes": classes, **lazy_parameter(lazy)}, seed, num_classes, masks))


GENERATORS = {"cifar10": cifar10, "cifar100": cifar100, "imagenet": imagenet}

"""The semi-synthetic spurious-correlation datasets of the paper (sec. 4.1, fig. 2), built from MNIST and CIFAR-10.

- Colored MNIST (Nam et al. 2020): core = digit shape, spurious = the digit's colour (one mean colour per bias
  label, small per-image colour noise; only the foreground is coloured). 3x28x28.
- Corrupted CIFAR-10 (Nam et al. 2020, Type0): core = object, spurious = corruption type (one per bias label,
  CIFAR-10-C parameters, ``spurcomp.data.corruptions``). 3x32x32.
- MNIST-CIFAR (Shah et al. 2020, extended to 10 classes): an MNIST digit (padded to 32x32, three channels) on
  top of a CIFAR-10 image, 3x64x32; core = the CIFAR class, spurious = the digit.
- Double MNIST (the paper's own): two digits side by side, 1x28x56; core = the left, dimmer digit (the label),
  spurious = the right, brighter digit.

Training sets have exactly round(rho_train * n_c) bias-conflicting samples in each class c (``bias_labels``);
test sets are unbiased: within each class every bias label is equally frequent (``uniform_bias_labels``).
Base images come from ``spurcomp.data.images`` (real torchvision data or the embedded offline default).
Train and test are drawn from their own random streams, so the test set does not change with ``n_train``.
"""
from __future__ import annotations

import numpy as np

from spurcomp.data.corruptions import (CORRUPTIONS, DEVIATIONS, FROST_FALLBACK, SEVERITY_PARAMETERS, corrupt,
                                      frost_photos)
from spurcomp.data.images import ImagePool, load_cifar10, load_mnist
from spurcomp.data.io import FEATURE_CODES, Dataset, Split, bias_labels, dataset_metadata, seeded_subset, split_streams

NUM_CLASSES = 10
# Mean RGB of each bias label (LfF's colors.th).
COLORED_MNIST_COLOURS = np.array([
    (0.984, 0.313, 0.169), (0.991, 0.916, 0.352), (0.673, 0.461, 0.580), (0.783, 0.832, 0.601),
    (0.088, 0.778, 0.982), (0.321, 0.961, 0.446), (0.025, 0.236, 0.759), (0.555, 0.102, 0.762),
    (0.208, 0.393, 0.019), (0.834, 0.202, 0.267),
])
CORE, SPURIOUS, NOISE = FEATURE_CODES["core"], FEATURE_CODES["spurious"], FEATURE_CODES["noise"]


def uniform_bias_labels(y: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Bias labels independent of ``y``: within each class, every bias label equally often (counts differ by at
    most one), so every (y, b) group of an unbiased test set is (as nearly as n allows) equally large."""
    b = np.empty(len(y), dtype=np.int64)
    for c in range(num_classes):
        members = np.flatnonzero(y == c)
        b[members] = rng.permutation((np.arange(len(members)) + rng.integers(num_classes)) % num_classes)
    return b


def _labels_for_split(y, split: str, rho_train: float, rng) -> np.ndarray:
    return bias_labels(y, rho_train, rng, NUM_CLASSES) if split == "train" else uniform_bias_labels(y, NUM_CLASSES, rng)


def _subset(pool: ImagePool, n: int, rng: np.random.Generator, what: str) -> np.ndarray:
    return seeded_subset(len(pool.labels), n, rng, f"{what}: asked for {n} images but the {pool.description} pool "
                         f"of this split has {len(pool.labels)}; lower n_train/n_test or use source: torchvision")


def _digits_of_class(pool: ImagePool, classes: np.ndarray, rng: np.random.Generator, avoid=None) -> np.ndarray:
    """For each requested class, the index of a random digit of that class (not ``avoid[i]``)."""
    by_class = [np.flatnonzero(pool.labels == c) for c in range(NUM_CLASSES)]
    picks = np.array([rng.choice(by_class[c]) for c in classes], dtype=np.int64)
    if avoid is not None:
        # the same image on both sides would make core and spurious one feature: redraw (classes have >1 image)
        for i in np.flatnonzero(picks == avoid):
            while picks[i] == avoid[i]:
                picks[i] = rng.choice(by_class[classes[i]])
    return picks


def _build(generator: str, make_split, *, n_train: int, n_test: int, seed: int, parameters: dict, source: str,
           rho_train: float, masks: str, **extra) -> Dataset:
    """A dataset from ``make_split(split, n, rng) -> (Split, base-image descriptions)``, each split drawn from
    its own random stream."""
    streams, splits, described = split_streams(seed), {}, set()
    for split, n in (("train", n_train), ("test", n_test)):
        splits[split], pools = make_split(split, n, streams[split])
        described.update(pools)
    # the test set is unbiased: b independent of y
    return Dataset(**splits, metadata=dataset_metadata(
        generator, source=source, parameters={"n_train": n_train, "n_test": n_test, **parameters},
        rho_train=rho_train, rho_test=1 - 1 / NUM_CLASSES, seed=seed, num_classes=NUM_CLASSES,
        base_images=sorted(described), feature_masks=masks, **extra))


def colored_mnist(*, n_train: int, n_test: int, rho_train: float, seed: int, source: str = "embedded",
                  data_root: str = "data", download: bool = False, colour_std: float = 0.005) -> Dataset:
    def make_split(split, n, rng):
        pool = load_mnist(split, source, data_root, download)
        index = _subset(pool, n, rng, "colored_mnist")
        digits, y = pool.images[index], pool.labels[index]
        b = _labels_for_split(y, split, rho_train, rng)
        colours = np.clip(COLORED_MNIST_COLOURS[b] + rng.normal(scale=colour_std, size=(n, 3)), 0, 1)
        x = (colours[:, :, None, None] * digits).astype(np.float32)  # (n, 3, 28, 28): only the foreground is coloured
        feature = np.where(np.repeat(digits > 0, 3, axis=1), CORE, NOISE).astype(np.uint8)
        return Split(x=x, y=y, b=b, feature=feature), [pool.description]

    return _build("colored_mnist", make_split, n_train=n_train, n_test=n_test, seed=seed,
                  parameters={"colour_std": colour_std}, source=source, rho_train=rho_train,
                  masks="core: the digit's pixels (they also carry the colour, the spurious feature); noise: the "
                        "black background")


def double_mnist(*, n_train: int, n_test: int, rho_train: float, seed: int, source: str = "embedded",
                 data_root: str = "data", download: bool = False, core_intensity: float = 0.5) -> Dataset:
    def make_split(split, n, rng):
        pool = load_mnist(split, source, data_root, download)
        left = _subset(pool, n, rng, "double_mnist")
        y = pool.labels[left]
        b = _labels_for_split(y, split, rho_train, rng)
        right = _digits_of_class(pool, b, rng, avoid=left)
        x = np.concatenate([core_intensity * pool.images[left], pool.images[right]], axis=3).astype(np.float32)
        feature = np.concatenate([np.where(pool.images[left] > 0, CORE, NOISE),
                                  np.where(pool.images[right] > 0, SPURIOUS, NOISE)], axis=3).astype(np.uint8)
        return Split(x=x, y=y, b=b, feature=feature), [pool.description]

    return _build("double_mnist", make_split, n_train=n_train, n_test=n_test, seed=seed,
                  parameters={"core_intensity": core_intensity}, source=source, rho_train=rho_train,
                  masks="core: the left digit's pixels; spurious: the right digit's pixels; noise: the background")


def _cifar_feature(pool: ImagePool, index: np.ndarray) -> np.ndarray:
    """Core where the object is (procedural source), or the whole image (real CIFAR-10 has no object masks)."""
    n = len(index)
    if pool.object_mask is None:
        return np.full((n, 3, 32, 32), CORE, dtype=np.uint8)
    return np.repeat(np.where(pool.object_mask[index], CORE, NOISE)[:, None], 3, axis=1).astype(np.uint8)


def _cifar_pool(split, n, rng, source, data_root, download) -> tuple[ImagePool, np.ndarray]:
    pool = load_cifar10(split, n, rng, source, data_root, download)
    return pool, _subset(pool, n, rng, "CIFAR-10")


def corrupted_cifar10(*, n_train: int, n_test: int, rho_train: float, seed: int, source: str = "embedded",
                      data_root: str = "data", download: bool = False, severity: int = 5) -> Dataset:
    def make_split(split, n, rng):
        pool, index = _cifar_pool(split, n, rng, source, data_root, download)
        y = pool.labels[index]
        b = _labels_for_split(y, split, rho_train, rng)
        x = corrupt(pool.images[index], b, severity, rng)
        return Split(x=x, y=y, b=b, feature=_cifar_feature(pool, index)), [pool.description]

    fallbacks = {"frost": FROST_FALLBACK} if frost_photos() is None else {}
    masks = ("core: the object's pixels; noise: its background (the corruption, the spurious feature, covers the "
             "whole image)" if source == "embedded" else
             "core: every pixel (CIFAR-10 has no object masks; the corruption covers the whole image too)")
    return _build("corrupted_cifar10", make_split, n_train=n_train, n_test=n_test, seed=seed,
                  parameters={"severity": severity}, source=source, rho_train=rho_train, masks=masks,
                  corruptions=list(CORRUPTIONS),
                  corruption_parameters={name: SEVERITY_PARAMETERS[name][severity - 1] for name in CORRUPTIONS},
                  corruption_deviations={**DEVIATIONS, **fallbacks},
                  # what a fallback replaced: named wherever the data are (figures, tables, claims, fidelity)
                  **({"degraded": fallbacks} if fallbacks else {}))


def mnist_cifar(*, n_train: int, n_test: int, rho_train: float, seed: int, source: str = "embedded",
                data_root: str = "data", download: bool = False) -> Dataset:
    def make_split(split, n, rng):
        cifar, index = _cifar_pool(split, n, rng, source, data_root, download)
        y = cifar.labels[index]
        b = _labels_for_split(y, split, rho_train, rng)
        mnist = load_mnist(split, source, data_root, download)
        digits = mnist.images[_digits_of_class(mnist, b, rng)]
        top = np.repeat(np.pad(digits, ((0, 0), (0, 0), (2, 2), (2, 2))), 3, axis=1)  # 3x32x32, as in the domino
        x = np.concatenate([top, cifar.images[index]], axis=2).astype(np.float32)
        feature = np.concatenate([np.where(top > 0, SPURIOUS, NOISE).astype(np.uint8),
                                  _cifar_feature(cifar, index)], axis=2)
        return Split(x=x, y=y, b=b, feature=feature), [cifar.description, mnist.description]

    masks = ("spurious: the digit's pixels (top); core: the object's pixels (bottom)" +
             ("; noise: the rest" if source == "embedded" else ", every pixel of the CIFAR-10 image; noise: the rest"))
    return _build("mnist_cifar", make_split, n_train=n_train, n_test=n_test, seed=seed, parameters={},
                  source=source, rho_train=rho_train, masks=masks)


GENERATORS = {"colored_mnist": colored_mnist, "corrupted_cifar10": corrupted_cifar10, "mnist_cifar": mnist_cifar,
              "double_mnist": double_mnist}

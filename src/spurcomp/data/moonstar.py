"""The moon-star dataset (Geirhos et al., 2020, "Shortcut learning"), drawn procedurally.

Binary images of a moon (class 1) or a star (class 0). The spurious feature is the quadrant: in the original,
stars sit top-right or bottom-left and moons top-left or bottom-right. Here a bias-aligned sample uses its own
class's quadrants, a bias-conflicting one the other class's (b names the class whose quadrants are used). The
original's 200x200 templates are not redistributable, so the two shapes are drawn procedurally at
``image_size`` pixels and the original translation ranges are scaled by ``image_size / 200``.

``max_rotation`` and ``scale_jitter`` (default 0: fixed templates, as in the original) draw every shape with
a random rotation and scale. At 32 px with fixed templates the few possible positions per quadrant let an
FCN memorise the bias-conflicting samples, and every learning rate reaches ~99% unbiased accuracy; varied
shapes make the core feature the harder one again, as the recipe intends.

Masks: core = the shape's pixels; spurious = the rest of the quadrant the shape sits in (the location cue);
noise = every other pixel.
"""
from __future__ import annotations

import numpy as np
from matplotlib.path import Path as PolygonPath

from spurcomp.data.io import FEATURE_CODES, Dataset, Split, balanced_labels, bias_labels, dataset_metadata

STAR, MOON = 0, 1
ORIGINAL_SIZE = 200
# (class, quadrant index) -> (dx range, dy range) in pixels of the original 200 px image (upper bound exclusive).
SHIFTS = {
    (MOON, 0): ((46, 60), (39, 70)),     # bottom-right
    (MOON, 1): ((-53, -39), (-65, -34)),  # top-left
    (STAR, 0): ((-46, -22), (44, 64)),   # bottom-left
    (STAR, 1): ((55, 78), (-56, -33)),   # top-right
}
TEMPLATE_FRACTION = 0.32  # template diameter / image size (the original's are about 62-69 px of 200)


def template(shape: int, size: int, angle: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """A centred binary template (``size`` x ``size``) of a star or a moon, rotated by ``angle`` (radians)
    and scaled by ``scale``."""
    radius = scale * TEMPLATE_FRACTION * size / 2
    coords = np.arange(size) - (size - 1) / 2
    xx, yy = np.meshgrid(coords, coords)
    # rotate the sampling grid instead of the shape
    cos, sin = np.cos(angle), np.sin(angle)
    xx, yy = cos * xx + sin * yy, -sin * xx + cos * yy
    if shape == MOON:
        # a crescent: a disc minus a shifted disc
        outer = xx**2 + yy**2 <= radius**2
        bite = (xx - 0.45 * radius) ** 2 + (yy + 0.1 * radius) ** 2 <= (0.8 * radius) ** 2
        return outer & ~bite
    angles = np.pi / 2 + np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
    star = PolygonPath(np.stack([radii * np.cos(angles), -radii * np.sin(angles)], axis=1))
    return star.contains_points(np.stack([xx.ravel(), yy.ravel()], axis=1), radius=0.5).reshape(size, size)


def make_split(n: int, size: int, rho: float, rng: np.random.Generator, max_rotation: float = 0.0,
               scale_jitter: float = 0.0) -> Split:
    y = balanced_labels(n, 2, rng)
    b = bias_labels(y, rho, rng, 2)
    fixed = {shape: template(shape, size) for shape in (STAR, MOON)}
    scale = size / ORIGINAL_SIZE
    quadrant = rng.integers(0, 2, size=n)
    x = np.zeros((n, 1, size, size), dtype=np.float32)
    feature = np.full((n, 1, size, size), FEATURE_CODES["noise"], dtype=np.uint8)
    half = size // 2
    for i in range(n):
        (dx0, dx1), (dy0, dy1) = SHIFTS[(int(b[i]), int(quadrant[i]))]
        dx = int(round(rng.uniform(dx0, dx1) * scale))
        dy = int(round(rng.uniform(dy0, dy1) * scale))
        if max_rotation or scale_jitter:
            drawn = template(int(y[i]), size, np.deg2rad(rng.uniform(-max_rotation, max_rotation)),
                             rng.uniform(1 - scale_jitter, 1 + scale_jitter))
        else:
            drawn = fixed[int(y[i])]
        shape = np.roll(drawn, (dy, dx), axis=(0, 1))
        # the quadrant the shifted template's centre falls in is the location cue
        rows = slice(half, size) if dy >= 0 else slice(0, half)
        cols = slice(half, size) if dx >= 0 else slice(0, half)
        feature[i, 0, rows, cols] = FEATURE_CODES["spurious"]
        feature[i, 0][shape] = FEATURE_CODES["core"]
        x[i, 0][shape] = 1.0
    return Split(x=x, y=y, b=b, feature=feature)


def generate(*, image_size: int, n_train: int, n_test: int, rho_train: float, rho_test: float,
             seed: int, max_rotation: float = 0.0, scale_jitter: float = 0.0) -> Dataset:
    if image_size < 16:
        raise ValueError(f"moonstar image_size must be >= 16 to draw the shapes, got {image_size}")
    rng = np.random.default_rng(seed)
    metadata = dataset_metadata(
        "moonstar", source="procedural", parameters={"image_size": image_size, "n_train": n_train, "n_test": n_test,
                                                     "max_rotation": max_rotation, "scale_jitter": scale_jitter},
        rho_train=rho_train, rho_test=rho_test, seed=seed, num_classes=2)
    variation = {"max_rotation": max_rotation, "scale_jitter": scale_jitter}
    return Dataset(train=make_split(n_train, image_size, rho_train, rng, **variation),
                   test=make_split(n_test, image_size, rho_test, rng, **variation), metadata=metadata)

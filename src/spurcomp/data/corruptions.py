"""The ten corruptions of Corrupted CIFAR-10 (Nam et al. 2020, "Type0"), with the CIFAR-10-C parameters.

Corrupted CIFAR-10 uses Hendrycks & Dietterich's CIFAR-10-C code with its 32 px parameter tables (not the
ImageNet-C tables that the ``imagecorruptions`` package applies). ``SEVERITY_PARAMETERS`` holds those tables for
levels 1-5 (LfF's "Severity4" is level 5, our default). Each corruption here is built on maintained primitives
(scikit-image, SciPy, Pillow) with the same parameters; where the original needs something that is not
available offline, the substitute is named in ``DEVIATIONS`` (and in README.md).

Images are float (H, W, 3) in [0, 1]; every random draw comes from the ``rng`` passed in.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy.ndimage import convolve, map_coordinates, zoom
from skimage import color, transform
from skimage.filters import gaussian

# In bias-label order: corruption b marks the images whose spurious label is b.
CORRUPTIONS = ("snow", "frost", "fog", "brightness", "contrast", "spatter", "elastic_transform",
               "jpeg_compression", "pixelate", "saturate")

# CIFAR-10-C (32 px) parameters, levels 1..5.
SEVERITY_PARAMETERS = {
    # (snow mean, snow std, zoom, threshold, motion-blur radius, motion-blur sigma, image blend)
    "snow": [(0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
             (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)],
    # (image weight, frost weight)
    "frost": [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
    # (fog strength, fractal decay)
    "fog": [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)],
    # added HSV value
    "brightness": [0.05, 0.1, 0.15, 0.2, 0.3],
    # contrast factor
    "contrast": [0.75, 0.5, 0.4, 0.3, 0.15],
    # (liquid mean, liquid std, blur sigma, threshold, mask blur sigma, mud?)
    "spatter": [(0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0), (0.65, 0.3, 1, 0.69, 0.5, 0),
                (0.65, 0.1, 0.7, 0.69, 0.6, 1), (0.65, 0.1, 0.5, 0.68, 0.6, 1)],
    # (displacement alpha, displacement sigma, affine jitter), in pixels of a 32 px image
    "elastic_transform": [(0, 0, 32 * 0.08), (32 * 0.05, 32 * 0.2, 32 * 0.07), (32 * 0.08, 32 * 0.06, 32 * 0.06),
                          (32 * 0.1, 32 * 0.04, 32 * 0.05), (32 * 0.1, 32 * 0.03, 32 * 0.03)],
    # JPEG quality
    "jpeg_compression": [80, 65, 58, 50, 40],
    # down-sampling factor
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],
    # (saturation factor, saturation offset)
    "saturate": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
}

DEVIATIONS = {
    "snow": "ImageMagick's motion blur (Wand) replaced by a one-sided Gaussian-weighted line kernel (SciPy)",
    "frost": "the six frost photographs are not available offline: a procedural ice texture (ridged fractal "
             "noise, pale blue) is blended with the original weights",
    "fog": "the diamond-square plasma fractal replaced by octave value noise with the same per-octave decay",
    "spatter": "water branch (levels 1-3) not implemented: levels 1-3 use the mud branch too",
}


def _fractal_noise(size: int, decay: float, rng: np.random.Generator, octaves_from: int = 1) -> np.ndarray:
    """Value noise in [0, 1]: random grids of side 2, 4, ..., ``size`` upsampled and summed, each octave
    ``decay`` times weaker than the coarser one (the role of the plasma fractal's ``wibbledecay``)."""
    total = np.zeros((size, size))
    amplitude, side = 1.0, 2 ** octaves_from
    while side <= size:
        grid = rng.uniform(-1, 1, size=(side, side))
        total += amplitude * transform.resize(grid, (size, size), order=3, mode="reflect", anti_aliasing=False)
        amplitude /= decay
        side *= 2
    total -= total.min()
    return total / (total.max() + 1e-12)


def _clipped_zoom(image: np.ndarray, factor: float) -> np.ndarray:
    h = image.shape[0]
    crop = int(np.ceil(h / factor))
    top = (h - crop) // 2
    zoomed = zoom(image[top:top + crop, top:top + crop], (factor, factor) + (1,) * (image.ndim - 2), order=1)
    trim = (zoomed.shape[0] - h) // 2
    return zoomed[trim:trim + h, trim:trim + h]


def _motion_kernel(radius: float, sigma: float, angle_deg: float) -> np.ndarray:
    """A one-sided line kernel (weights exp(-t^2 / 2 sigma^2), t = 0..radius) pointing along ``angle_deg``."""
    size = 2 * int(np.ceil(radius)) + 1
    kernel = np.zeros((size, size))
    centre = size // 2
    direction = np.deg2rad(angle_deg)
    for t in np.arange(0, radius + 1e-9, 0.5):
        r = int(round(centre - t * np.sin(direction)))
        c = int(round(centre + t * np.cos(direction)))
        kernel[r, c] += np.exp(-(t**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def snow(x, p, rng):
    mean, std, zoom_factor, threshold, radius, sigma, blend = p
    layer = rng.normal(loc=mean, scale=std, size=x.shape[:2])
    layer = _clipped_zoom(layer[..., None], zoom_factor)[..., 0]
    layer[layer < threshold] = 0
    layer = convolve(np.clip(layer, 0, 1), _motion_kernel(radius, sigma, rng.uniform(-135, -45)), mode="constant")
    layer = np.round(layer * 255) / 255
    grey = color.rgb2gray(x)[..., None]
    x = blend * x + (1 - blend) * np.maximum(x, grey * 1.5 + 0.5)
    return x + layer[..., None] + np.rot90(layer, k=2)[..., None]


def frost(x, p, rng):
    image_weight, frost_weight = p
    ridges = 1 - np.abs(2 * _fractal_noise(x.shape[0] * 2, 1.6, rng) - 1)
    ice = ridges[: x.shape[0], : x.shape[1]] ** 3
    texture = ice[..., None] * np.array([0.85, 0.92, 1.0])  # pale blue, like the frost photographs
    return image_weight * x + frost_weight * texture


def fog(x, p, rng):
    strength, decay = p
    peak = x.max()
    x = x + strength * _fractal_noise(x.shape[0], decay, rng)[..., None]
    return x * peak / (peak + strength)


def brightness(x, p, rng):
    hsv = color.rgb2hsv(x)
    hsv[..., 2] = np.clip(hsv[..., 2] + p, 0, 1)
    return color.hsv2rgb(hsv)


def contrast(x, p, rng):
    means = x.mean(axis=(0, 1), keepdims=True)
    return (x - means) * p + means


def spatter(x, p, rng):
    mean, std, blur, threshold, mask_blur, _ = p
    liquid = gaussian(rng.normal(loc=mean, scale=std, size=x.shape[:2]), sigma=blur)
    liquid[liquid < threshold] = 0
    mask = gaussian((liquid > threshold).astype(np.float64), sigma=mask_blur)
    mask[mask < 0.8] = 0
    mud = np.array([63, 42, 20]) / 255
    return x * (1 - mask[..., None]) + mud * mask[..., None]


def elastic_transform(x, p, rng):
    alpha, sigma, affine_jitter = p
    h, w = x.shape[:2]
    centre = np.float32([h, w]) // 2
    half = min(h, w) // 3
    source = np.float32([centre + half, [centre[0] + half, centre[1] - half], centre - half])
    target = source + rng.uniform(-affine_jitter, affine_jitter, size=source.shape)
    # skimage's transforms map (col, row); warp takes the inverse map (output -> input)
    affine = transform.AffineTransform.from_estimate(target[:, ::-1], source[:, ::-1])
    x = transform.warp(x, affine, mode="reflect", order=1)
    if alpha == 0:
        return x
    dx = gaussian(rng.uniform(-1, 1, size=(h, w)), sigma=sigma, mode="reflect", truncate=3) * alpha
    dy = gaussian(rng.uniform(-1, 1, size=(h, w)), sigma=sigma, mode="reflect", truncate=3) * alpha
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return np.stack([map_coordinates(x[..., ch], [rows + dy, cols + dx], order=1, mode="reflect")
                     for ch in range(x.shape[2])], axis=-1)


def _pil(x) -> Image.Image:
    return Image.fromarray((np.clip(x, 0, 1) * 255).round().astype(np.uint8))


def jpeg_compression(x, p, rng):
    buffer = io.BytesIO()
    _pil(x).save(buffer, "JPEG", quality=p)
    return np.asarray(Image.open(buffer), dtype=np.float64) / 255


def pixelate(x, p, rng):
    h, w = x.shape[:2]
    small = _pil(x).resize((int(w * p), int(h * p)), Image.BOX)
    return np.asarray(small.resize((w, h), Image.BOX), dtype=np.float64) / 255


def saturate(x, p, rng):
    hsv = color.rgb2hsv(x)
    hsv[..., 1] = np.clip(hsv[..., 1] * p[0] + p[1], 0, 1)
    return color.hsv2rgb(hsv)


FUNCTIONS = {name: globals()[name] for name in CORRUPTIONS}


def corrupt(images: np.ndarray, kinds: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Apply corruption ``CORRUPTIONS[kinds[i]]`` at ``severity`` (1-5) to each image (N, 3, H, W) in [0, 1]."""
    if severity not in range(1, 6):
        raise ValueError(f"corruption severity must be 1..5 (CIFAR-10-C levels), got {severity}")
    out = np.empty_like(images, dtype=np.float32)
    for i, (image, kind) in enumerate(zip(images, kinds)):
        name = CORRUPTIONS[int(kind)]
        corrupted = FUNCTIONS[name](image.transpose(1, 2, 0).astype(np.float64),
                                    SEVERITY_PARAMETERS[name][severity - 1], rng)
        out[i] = np.clip(corrupted, 0, 1).transpose(2, 0, 1)
    return out

"""The ten corruptions of Corrupted CIFAR-10 (Nam et al. 2020, "Type0"), with the CIFAR-10-C parameters.

Corrupted CIFAR-10 uses Hendrycks & Dietterich's CIFAR-10-C code (``make_cifar_c.py``) with its 32 px parameter
tables (not the ImageNet-C tables that the ``imagecorruptions`` package applies). ``SEVERITY_PARAMETERS`` holds
those tables for levels 1-5 (LfF's "Severity4" is level 5, our default). Each corruption here is built on
maintained primitives (scikit-image, SciPy, Pillow) with the same maths: ImageMagick's motion blur (snow) and the
diamond-square plasma fractal (fog) are written out, the frost photographs are read from the ``imagecorruptions``
wheel's package data (its module is never imported: its code does not run on current NumPy and scikit-image),
and every corrupted image is truncated to whole grey levels as the original's ``np.uint8(...)`` does. What still
differs is named in ``DEVIATIONS`` (and in README.md).

Images are float (H, W, 3) in [0, 1]; every random draw comes from the ``rng`` passed in.
"""
from __future__ import annotations

import functools
import io
import logging
from importlib import metadata

import numpy as np
from PIL import Image
from scipy.ndimage import map_coordinates, zoom
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
    "spatter": "water branch (levels 1-3) not implemented: levels 1-3 use the mud branch too",
    "elastic_transform": "scikit-image's affine warp instead of OpenCV's; the three affine points are read as "
                         "(row, col) where OpenCV reads (x, y), so the warp is the transpose of the original's for "
                         "the same draws (the same distribution)",
    "random draws": "NumPy's Generator instead of the legacy global np.random: the same distributions, other draws",
}
FROST_FALLBACK = ("the frost photographs could not be read from the imagecorruptions package: a procedural ice "
                  "texture (ridged fractal noise, pale blue) is blended with the original weights instead")
# The frost photographs of the original (make_cifar_c.py draws among the first five), in the imagecorruptions wheel.
FROST_PHOTOS = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
# OpenCV's RGB -> grey weights (ITU-R BT.601), which the original's snow uses (scikit-image's rgb2gray differs).
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114])
logger = logging.getLogger("spurcomp")


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


def plasma_fractal(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """The original fog's height map in [0, 1]: diamond-square on a ``size`` x ``size`` torus (size a power of
    2). Each new point is the mean of its four neighbours plus ``wibble`` x U(-wibble, wibble), so the noise of an
    octave scales with wibble², and ``wibble`` (100 at first) is divided by ``decay`` after each octave: the
    amplitude falls by decay² per octave."""
    if size & (size - 1):
        raise ValueError(f"plasma_fractal needs a power of 2, got {size}")
    heights = np.zeros((size, size))
    step, wibble = size, 100.0

    def displaced(total):
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = heights[0::step, 0::step]
        # squares: the centre of each square of corners
        around = corners + np.roll(corners, -1, axis=0)
        heights[half::step, half::step] = displaced(around + np.roll(around, -1, axis=1))
        # diamonds: the edge midpoints, from the two corners and the two centres beside each
        centres = heights[half::step, half::step]
        heights[0::step, half::step] = displaced(centres + np.roll(centres, 1, axis=0)
                                                 + corners + np.roll(corners, -1, axis=1))
        heights[half::step, 0::step] = displaced(centres + np.roll(centres, 1, axis=1)
                                                 + corners + np.roll(corners, -1, axis=0))
        step //= 2
        wibble /= decay
    heights -= heights.min()
    return heights / heights.max()


def _clipped_zoom(image: np.ndarray, factor: float) -> np.ndarray:
    h = image.shape[0]
    crop = int(np.ceil(h / factor))
    top = (h - crop) // 2
    zoomed = zoom(image[top:top + crop, top:top + crop], (factor, factor) + (1,) * (image.ndim - 2), order=1)
    trim = (zoomed.shape[0] - h) // 2
    return zoomed[trim:trim + h, trim:trim + h]


def motion_blur_taps(radius: float, sigma: float, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """ImageMagick's MotionBlurImage: 2·ceil(radius) + 1 taps; tap i has weight exp(-i² / 2σ²) (normalised) and
    samples the pixel at integer offset (ceil(i·cos a - 0.5) columns, ceil(i·sin a - 0.5) rows). Returns the
    weights and the (row, col) offsets."""
    width = int(2 * np.ceil(radius) + 1)
    steps = np.arange(width)
    weights = np.exp(-(steps.astype(np.float64) ** 2) / (2 * max(sigma, 1e-12) ** 2))
    angle = np.deg2rad(angle_deg)
    offsets = np.stack([np.ceil(steps * np.sin(angle) - 0.5), np.ceil(steps * np.cos(angle) - 0.5)], axis=1)
    return weights / weights.sum(), offsets.astype(int)


def motion_blur(layer: np.ndarray, radius: float, sigma: float, angle_deg: float) -> np.ndarray:
    """``layer`` (H, W) blurred as ImageMagick's motion blur does, edge pixels repeated beyond the border."""
    weights, offsets = motion_blur_taps(radius, sigma, angle_deg)
    h, w = layer.shape
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    out = np.zeros((h, w))
    for weight, (dr, dc) in zip(weights, offsets):
        out += weight * layer[np.clip(rows + dr, 0, h - 1), np.clip(cols + dc, 0, w - 1)]
    return out


def snow(x, p, rng):
    mean, std, zoom_factor, threshold, radius, sigma, blend = p
    layer = rng.normal(loc=mean, scale=std, size=x.shape[:2])
    layer = _clipped_zoom(layer[..., None], zoom_factor)[..., 0]
    layer[layer < threshold] = 0
    # the original blurs an 8-bit greyscale image (truncated on the way in, rounded on the way out)
    grey_levels = np.floor(np.clip(layer, 0, 1) * 255)
    layer = np.round(motion_blur(grey_levels, radius, sigma, rng.uniform(-135, -45))) / 255
    grey = (x @ GREY_WEIGHTS)[..., None]
    x = blend * x + (1 - blend) * np.maximum(x, grey * 1.5 + 0.5)
    return x + layer[..., None] + np.rot90(layer, k=2)[..., None]


@functools.lru_cache(maxsize=1)
def frost_photos() -> tuple[np.ndarray, ...] | None:
    """The original's frost photographs (RGB uint8), shrunk to a fifth as the CIFAR-10-C code does
    (OpenCV's bilinear resize by 0.2 samples exactly every fifth pixel from the third); None if unavailable."""
    try:
        package = metadata.distribution("imagecorruptions")
        photos = []
        for name in FROST_PHOTOS:
            image = np.asarray(Image.open(package.locate_file(f"imagecorruptions/frost/{name}")).convert("RGB"))
            h, w = round(image.shape[0] * 0.2), round(image.shape[1] * 0.2)
            photos.append(image[2::5, 2::5][:h, :w])
        return tuple(photos)
    except (metadata.PackageNotFoundError, OSError) as err:
        logger.warning("%s (%s)", FROST_FALLBACK, err)
        return None


def frost(x, p, rng):
    image_weight, frost_weight = p
    photos = frost_photos()
    if photos is None:  # the documented fallback
        ridges = 1 - np.abs(2 * _fractal_noise(x.shape[0] * 2, 1.6, rng) - 1)
        ice = ridges[: x.shape[0], : x.shape[1]] ** 3
        texture = ice[..., None] * np.array([0.85, 0.92, 1.0])  # pale blue, like the frost photographs
        return image_weight * x + frost_weight * texture
    photo = photos[rng.integers(len(photos))]
    h, w = x.shape[:2]
    top, left = rng.integers(0, photo.shape[0] - h), rng.integers(0, photo.shape[1] - w)
    return image_weight * x + frost_weight * photo[top:top + h, left:left + w] / 255


def fog(x, p, rng):
    strength, decay = p
    peak = x.max()
    side = 1 << (max(x.shape[:2]) - 1).bit_length()  # the original's map is 32 x 32 for CIFAR
    x = x + strength * plasma_fractal(side, decay, rng)[: x.shape[0], : x.shape[1], None]
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
    # The original builds the three affine points in OpenCV's (x, y) order; here they are (row, col): for the
    # same draws the warp is the transpose of the original's, with the same distribution (see DEVIATIONS).
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
        out[i] = whole_grey_levels(corrupted).transpose(2, 0, 1)
    return out


def whole_grey_levels(x: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and truncate to whole grey levels k/255, as the original stores every corrupted image with
    ``np.uint8(clip(x) * 255)``. (1e-9 keeps an exact k/255 that float arithmetic put a hair below k at k.)"""
    return np.floor(np.clip(x, 0, 1) * 255 + 1e-9) / 255

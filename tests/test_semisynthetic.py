"""The semi-synthetic datasets against their definitions (paper sec. 4.1, ../shared/paper/datasets.md)."""
import gzip
import pickle

import numpy as np
import pytest

from spurcomp.data import build_dataset
from spurcomp.data import corruptions as C
from spurcomp.data.io import FEATURE_CODES
from spurcomp.data.semisynthetic import COLORED_MNIST_COLOURS, uniform_bias_labels

CORE, SPURIOUS, NOISE = FEATURE_CODES["core"], FEATURE_CODES["spurious"], FEATURE_CODES["noise"]
SMALL = {"n_train": 800, "n_test": 300}
SHAPES = {"colored_mnist": (3, 28, 28), "corrupted_cifar10": (3, 32, 32), "mnist_cifar": (3, 64, 32),
          "double_mnist": (1, 28, 56)}
RHO = {"colored_mnist": 0.025, "corrupted_cifar10": 0.1, "mnist_cifar": 0.1, "double_mnist": 0.025}


@pytest.fixture(scope="module")
def datasets():
    return {name: build_dataset({"generator": name, "rho_train": RHO[name], **SMALL}, seed=1) for name in SHAPES}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shapes_ranges_and_metadata(datasets, name):
    d = datasets[name]
    assert d.train.x.shape == (800, *SHAPES[name]) and d.test.x.shape == (300, *SHAPES[name])
    for split in (d.train, d.test):
        assert split.x.dtype == np.float32 and split.x.min() >= 0 and split.x.max() <= 1
        assert set(np.unique(split.y)) <= set(range(10)) and set(np.unique(split.b)) <= set(range(10))
        assert split.feature.shape == split.x.shape
    assert d.metadata["generator"] == name and d.metadata["source"] == "embedded"
    assert d.metadata["num_classes"] == 10 and d.metadata["rho_train"] == RHO[name]
    assert any("embedded" in text for text in d.metadata["base_images"])


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_bias_conflicting_ratio_per_class(datasets, name):
    d = datasets[name]
    for c in range(10):
        members = d.train.y == c
        assert (d.train.b[members] != c).sum() == round(RHO[name] * members.sum())


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_unbiased_test_set_has_every_group_equally_often(datasets, name):
    d = datasets[name]
    groups = np.zeros((10, 10), dtype=int)
    np.add.at(groups, (d.test.y, d.test.b), 1)
    for c in range(10):
        assert groups[c].max() - groups[c].min() <= 1  # b independent of y within every class


def test_uniform_bias_labels_balance_each_class():
    y = np.repeat(np.arange(3), [7, 9, 12])
    b = uniform_bias_labels(y, 3, np.random.default_rng(0))
    for c in range(3):
        counts = np.bincount(b[y == c], minlength=3)
        assert counts.max() - counts.min() <= 1 and counts.sum() == (y == c).sum()


def test_colored_mnist_colour_is_the_bias_label_and_only_the_digit_is_coloured(datasets):
    for split in (datasets["colored_mnist"].train, datasets["colored_mnist"].test):
        x = split.x
        # every coloured pixel is colour * intensity, so the brightest pixel's RGB is the image's colour
        brightest = x.sum(axis=1).reshape(len(x), -1).argmax(axis=1)
        colour = x.reshape(len(x), 3, -1)[np.arange(len(x)), :, brightest]
        colour = colour / np.abs(colour).max(axis=1, keepdims=True) * np.abs(COLORED_MNIST_COLOURS[split.b]).max(axis=1, keepdims=True)
        nearest = np.linalg.norm(colour[:, None] - COLORED_MNIST_COLOURS[None], axis=2).argmin(axis=1)
        np.testing.assert_array_equal(nearest, split.b)
        assert (x[split.feature == NOISE] == 0).all()  # black background
        assert (split.feature != SPURIOUS).all()  # the colour lives on the digit's pixels


def test_colored_mnist_aligned_samples_share_label_and_colour(datasets):
    d = datasets["colored_mnist"]
    aligned = d.train.y == d.train.b
    assert aligned.mean() == pytest.approx(1 - 0.025, abs=0.01)
    # the model sees y only through the digit, b only through the colour: aligned images of class c are colour c
    for c in range(10):
        images = d.train.x[aligned & (d.train.y == c)]
        mean_colour = images.sum(axis=(2, 3)) / images.sum(axis=(1, 2, 3))[:, None]
        expected = COLORED_MNIST_COLOURS[c] / COLORED_MNIST_COLOURS[c].sum()
        np.testing.assert_allclose(mean_colour.mean(axis=0), expected, atol=0.02)


def test_double_mnist_left_dim_core_right_bright_spurious(datasets):
    d = datasets["double_mnist"]
    for split in (d.train, d.test):
        left, right = split.x[..., :28], split.x[..., 28:]
        assert left.max() <= 0.5 + 1e-6 and right.reshape(len(right), -1).max(axis=1).min() > 0.9
        assert set(np.unique(split.feature[..., :28])) <= {CORE, NOISE}
        assert set(np.unique(split.feature[..., 28:])) <= {SPURIOUS, NOISE}
        assert (split.x[split.feature == NOISE] == 0).all()
        # the left digit and the right digit are never the same image
        assert not np.any(np.all(np.isclose(2 * left, right), axis=(1, 2, 3)))


def test_mnist_cifar_layout_digit_on_top(datasets):
    from spurcomp.data.images import load_mnist

    d = datasets["mnist_cifar"]
    for name, split in (("train", d.train), ("test", d.test)):
        top, bottom = split.x[:, :, :32], split.x[:, :, 32:]
        # the top digit is an MNIST digit of class b (the spurious label)
        pool = load_mnist(name)
        flat = pool.images.reshape(len(pool.images), -1)
        for digit, b in zip(top[:50, 0, 2:30, 2:30], split.b[:50]):
            match = np.flatnonzero((flat == digit.reshape(1, -1)).all(axis=1))
            assert len(match) and pool.labels[match[0]] == b
        assert bottom.reshape(len(bottom), -1).std(axis=1).min() > 0  # a textured image below, not padding
        np.testing.assert_array_equal(top[:, 0], top[:, 1])  # the digit is grey: three equal channels
        assert (top[:, :, :2] == 0).all() and (top[:, :, :, -2:] == 0).all()  # padded by 2 px
        assert set(np.unique(split.feature[:, :, :32])) <= {SPURIOUS, NOISE}
        assert set(np.unique(split.feature[:, :, 32:])) <= {CORE, NOISE}
        object_share = (split.feature[:, 0, 32:] == CORE).mean()
        assert 0.05 < object_share < 0.5  # the procedural object's mask


def test_corrupted_cifar10_corruption_follows_the_bias_label(datasets):
    d = datasets["corrupted_cifar10"]
    std = d.train.x.std(axis=(2, 3)).mean(axis=1)  # spatial contrast of each channel
    mean_std = np.array([std[d.train.b == k].mean() for k in range(10)])
    # contrast (level 5: factor 0.15) gives by far the flattest images
    assert mean_std.argmin() == C.CORRUPTIONS.index("contrast")
    assert mean_std[C.CORRUPTIONS.index("contrast")] < 0.3 * np.median(mean_std)
    assert d.metadata["corruptions"] == list(C.CORRUPTIONS)
    assert d.metadata["corruption_parameters"]["jpeg_compression"] == 40


def test_corruption_parameters_are_the_cifar10c_ones():
    image = np.random.default_rng(0).uniform(0.3, 0.7, size=(32, 32, 3))
    rng = np.random.default_rng(0)
    out = C.contrast(image, C.SEVERITY_PARAMETERS["contrast"][4], rng)
    np.testing.assert_allclose(out - out.mean(axis=(0, 1)), 0.15 * (image - image.mean(axis=(0, 1))), atol=1e-12)
    from skimage import color

    brighter = C.brightness(image, C.SEVERITY_PARAMETERS["brightness"][4], rng)
    np.testing.assert_allclose(color.rgb2hsv(brighter)[..., 2], np.clip(color.rgb2hsv(image)[..., 2] + 0.3, 0, 1), atol=1e-6)
    saturated = C.saturate(image, C.SEVERITY_PARAMETERS["saturate"][4], rng)
    np.testing.assert_allclose(color.rgb2hsv(saturated)[..., 1], np.clip(color.rgb2hsv(image)[..., 1] * 2.5 + 0.2, 0, 1), atol=1e-6)
    pixelated = C.pixelate(image, 0.65, rng)
    assert len(np.unique(pixelated[..., 0])) < len(np.unique(image[..., 0])) / 2
    for name in C.CORRUPTIONS:
        out = C.FUNCTIONS[name](image, C.SEVERITY_PARAMETERS[name][4], np.random.default_rng(1))
        assert out.shape == image.shape and np.isfinite(out).all()
        assert np.abs(np.clip(out, 0, 1) - image).mean() > 0.005, name  # every corruption changes the image
    with pytest.raises(ValueError, match="severity must be 1..5"):
        C.corrupt(image.transpose(2, 0, 1)[None], np.array([0]), 6, rng)


def test_snow_blur_is_imagemagicks_motion_blur():
    # ImageMagick's MotionBlurImage: 2·ceil(radius) + 1 taps, weight exp(-i²/2σ²), integer steps along the angle
    weights, offsets = C.motion_blur_taps(2, 1.0, 0.0)
    expected = np.exp(-np.arange(5) ** 2 / 2.0)
    np.testing.assert_allclose(weights, expected / expected.sum())
    assert offsets.tolist() == [[0, 0], [0, 1], [0, 2], [0, 3], [0, 4]]  # (row, col): along the row
    weights, offsets = C.motion_blur_taps(14, 12, -90.0)  # level 5: 29 taps, straight up
    assert len(weights) == 29 and offsets[:, 1].tolist() == [0] * 29 and offsets[:, 0].tolist() == [-i for i in range(29)]
    _, offsets = C.motion_blur_taps(3, 2, -45.0)  # ceil(i·cos a - 0.5), ceil(i·sin a - 0.5)
    assert offsets.tolist() == [[0, 0], [-1, 1], [-1, 1], [-2, 2], [-3, 3], [-4, 4], [-4, 4]]
    # smooth Gaussian decay, not a comb: every tap weaker than the one before
    assert (np.diff(C.motion_blur_taps(14, 12, -60.0)[0]) < 0).all()
    # edge pixels are repeated beyond the border: a uniform layer stays uniform (zero padding darkened it)
    blurred = C.motion_blur(np.full((32, 32), 128.0), 14, 12, -100.0)
    np.testing.assert_allclose(blurred, 128.0)
    # one bright pixel spreads along the taps with their weights
    spot = np.zeros((32, 32))
    spot[10, 10] = 1.0
    weights, offsets = C.motion_blur_taps(3, 2, 0.0)
    out = C.motion_blur(spot, 3, 2, 0.0)
    for weight, (dr, dc) in zip(weights, offsets):  # output(r, c) samples (r + dr, c + dc)
        assert out[10 - dr, 10 - dc] == pytest.approx(weight)


def test_snow_greys_with_opencvs_weights():
    green = np.zeros((32, 32, 3))
    green[..., 1] = 1.0
    rng = np.random.default_rng(0)
    mean, std, zoom, threshold, radius, sigma, blend = C.SEVERITY_PARAMETERS["snow"][4]
    no_flakes = (mean, 0.0, zoom, 2.0, radius, sigma, blend)  # threshold 2: no flake survives
    out = C.snow(green, no_flakes, rng)
    grey = 0.587 * 1.5 + 0.5  # OpenCV's RGB -> grey: 0.299 R + 0.587 G + 0.114 B
    np.testing.assert_allclose(out[0, 0], [0.2 * grey, 0.8 + 0.2 * max(1.0, grey), 0.2 * grey])


def test_fog_amplitude_falls_by_decay_squared_per_octave():
    class Recording:
        """Stands in for the Generator: records the half-width of every uniform draw."""

        def __init__(self):
            self.widths, self.rng = [], np.random.default_rng(0)

        def uniform(self, low, high, size):
            self.widths.append(high)
            return self.rng.uniform(low, high, size)

    rng = Recording()
    heights = C.plasma_fractal(32, 1.75, rng)
    assert heights.shape == (32, 32) and heights.min() == 0 and heights.max() == 1
    # five octaves (32 -> 2), three fills each (squares, two diamond sets), noise wibble x U(-wibble, wibble)
    # with wibble = 100 / decay^octave: the amplitude wibble² falls by decay² per octave
    assert rng.widths == pytest.approx([100 / 1.75 ** k for k in range(5) for _ in range(3)])
    with pytest.raises(ValueError, match="power of 2"):
        C.plasma_fractal(30, 2, np.random.default_rng(0))


def test_frost_uses_the_photographs_at_the_cifar10c_crop():
    photos = C.frost_photos()
    assert photos is not None, "the imagecorruptions package data should be installed"
    # the first five photographs, shrunk to a fifth (frost1.png is 900 x 600)
    assert len(photos) == 5 and photos[0].shape == (120, 180, 3) and photos[0].dtype == np.uint8
    grey = np.full((32, 32, 3), 0.5)
    rng = np.random.default_rng(0)
    image_weight, frost_weight = C.SEVERITY_PARAMETERS["frost"][4]
    outs = np.stack([C.frost(grey, (image_weight, frost_weight), rng) for _ in range(400)])
    # mean brightness: 0.75 x 0.5 + 0.45 x the photographs' mean (each photograph equally likely)
    expected = image_weight * 0.5 + frost_weight * np.mean([p.mean() for p in photos]) / 255
    assert outs.mean() == pytest.approx(expected, abs=0.02)
    assert outs.mean() > 0.6  # the procedural layer (mean ≈ 95/255) gave about 0.54
    # each output is a 32 x 32 crop of one photograph, blended with the original weights
    crop = (outs[0] - image_weight * 0.5) / frost_weight * 255
    assert np.allclose(crop, np.round(crop), atol=1e-6)


def test_corrupted_images_are_truncated_to_whole_grey_levels():
    assert C.whole_grey_levels(np.array([0.5]))[0] == 127 / 255  # 127.5 -> 127, as np.uint8 truncates
    levels = np.arange(256) / 255
    np.testing.assert_array_equal(C.whole_grey_levels(levels), levels)  # whole levels stay
    np.testing.assert_array_equal(C.whole_grey_levels(np.array([-0.2, 1.3])), [0.0, 1.0])
    image = np.random.default_rng(0).uniform(0, 1, size=(4, 3, 32, 32))
    out = C.corrupt(image, np.array([0, 2, 4, 6]), 5, np.random.default_rng(0))
    np.testing.assert_allclose(out * 255, np.round(out * 255), atol=1e-4)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_same_seed_same_bytes_other_seed_other_data(name):
    spec = {"generator": name, "rho_train": RHO[name], "n_train": 100, "n_test": 100}
    first, again, other = (build_dataset(spec, seed=s) for s in (5, 5, 6))
    for split in ("train", "test"):
        for field in ("x", "y", "b", "feature"):
            assert getattr(getattr(first, split), field).tobytes() == getattr(getattr(again, split), field).tobytes()
    assert first.train.x.tobytes() != other.train.x.tobytes()
    # the test set has its own random stream: more training data leaves it unchanged
    bigger = build_dataset({**spec, "n_train": 150}, seed=5)
    assert bigger.test.x.tobytes() == first.test.x.tobytes()


def test_embedded_pool_too_small_is_a_clear_error():
    with pytest.raises(ValueError, match="4000.*source: torchvision"):
        build_dataset({"generator": "colored_mnist", "rho_train": 0.025, "n_train": 5000, "n_test": 100}, seed=0)


# ---------------------------------------------------------------------------------- real (torchvision) path
def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    with gzip.open(path, "wb") if str(path).endswith(".gz") else open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def real_root(tmp_path_factory):
    """A data root with MNIST (idx files) and CIFAR-10 (python batches) in their real formats, written here."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    mnist = {}
    for split, prefix, per_class in (("train", "train", 30), ("test", "t10k", 20)):
        labels = np.repeat(np.arange(10), per_class)
        images = rng.integers(0, 256, size=(len(labels), 28, 28)) * (rng.uniform(size=(len(labels), 28, 28)) < 0.2)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        mnist[split] = (images, labels)
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    cifar = {}
    for split, names, per_class in (("train", [f"data_batch_{i}" for i in range(1, 6)], 8), ("test", ["test_batch"], 30)):
        parts = []
        for name in names:
            labels = np.repeat(np.arange(10), per_class)
            data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
            with open(folder / name, "wb") as f:
                pickle.dump({b"data": data, b"labels": labels.tolist()}, f)
            parts.append(data.reshape(-1, 3, 32, 32))
        cifar[split] = np.concatenate(parts)
    return root, mnist, cifar


def test_real_mnist_path_reads_torchvision_files(real_root):
    root, mnist, _ = real_root
    d = build_dataset({"generator": "double_mnist", "rho_train": 0.1, "n_train": 200, "n_test": 100,
                       "source": "torchvision", "data_root": str(root)}, seed=0)
    assert d.metadata["source"] == "torchvision" and d.metadata["base_images"] == ["MNIST digits (torchvision)"]
    images, labels = mnist["train"]
    written = images.reshape(len(images), -1) / 255.0
    for x, y in zip(d.train.x, d.train.y):
        distance = np.abs(written - x[0, :, :28].reshape(1, -1) / 0.5).max(axis=1)
        assert distance.min() < 1e-5 and labels[distance.argmin()] == y  # the left digit: a written image of class y


def test_real_cifar_path_reads_python_batches(real_root):
    root, _, cifar = real_root
    d = build_dataset({"generator": "mnist_cifar", "rho_train": 0.1, "n_train": 300, "n_test": 200,
                       "source": "torchvision", "data_root": str(root)}, seed=0)
    written = {img.tobytes() for img in cifar["test"]}
    bottoms = np.round(d.test.x[:, :, 32:] * 255).astype(np.uint8)
    assert all(b.tobytes() in written for b in bottoms)
    assert (d.test.feature[:, :, 32:] == CORE).all()  # real CIFAR-10: no object mask, the whole image is core
    with pytest.raises(ValueError, match="has 400"):
        build_dataset({"generator": "corrupted_cifar10", "rho_train": 0.1, "n_train": 401, "n_test": 10,
                       "source": "torchvision", "data_root": str(root)}, seed=0)


def test_missing_real_data_names_where_to_put_it(tmp_path):
    for generator, what in (("colored_mnist", "MNIST"), ("corrupted_cifar10", "CIFAR-10")):
        with pytest.raises(FileNotFoundError, match=f"{what} not found.*download: true"):
            build_dataset({"generator": generator, "rho_train": 0.1, "n_train": 10, "n_test": 100,
                           "source": "torchvision", "data_root": str(tmp_path)}, seed=0)

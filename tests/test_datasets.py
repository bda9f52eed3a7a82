import numpy as np
import pytest

from spurcomp.data import build_dataset, load_dataset, save_dataset
from spurcomp.data.moonstar import MOON, STAR
from spurcomp.data.parity import bits_with_parity

PARITY = {"generator": "parity", "core_bits": 5, "spurious_bits": 2, "noise_bits": 13,
          "n_train": 2000, "n_test": 1000, "rho_train": 0.1, "rho_test": 0.5}
MOONSTAR = {"generator": "moonstar", "image_size": 32, "n_train": 400, "n_test": 200, "rho_train": 0.1,
            "rho_test": 0.5}


def bits(x):
    return (x > 0).astype(int)


def test_parity_labels_are_the_parities_of_their_blocks():
    d = build_dataset(PARITY, seed=3)
    for split in (d.train, d.test):
        assert split.x.shape[1] == 20 and set(np.unique(split.x)) == {-1.0, 1.0}
        np.testing.assert_array_equal(split.y, bits(split.x[:, :5]).sum(axis=1) % 2)
        np.testing.assert_array_equal(split.b, bits(split.x[:, 5:7]).sum(axis=1) % 2)


def test_parity_bias_conflicting_ratio_and_balanced_test_groups():
    d = build_dataset(PARITY, seed=0)
    assert (d.train.y != d.train.b).sum() == 200  # exactly rho_train * n_train
    assert np.bincount(d.train.y).tolist() == [1000, 1000]
    groups = np.bincount(2 * d.test.y + d.test.b, minlength=4)
    assert groups.tolist() == [250, 250, 250, 250]  # rho_test = 0.5: every (y, b) group equally large


def test_parity_masks_mark_core_spurious_and_noise_bits():
    d = build_dataset(PARITY, seed=0)
    expected = {"core": range(0, 5), "spurious": range(5, 7), "noise": range(7, 20)}
    for kind, columns in expected.items():
        mask = d.train.mask(kind)
        assert mask.shape == d.train.x.shape
        assert mask.all(axis=0)[list(columns)].all() and mask.sum(axis=1).tolist() == [len(columns)] * 2000


def test_parity_blocks_are_uniform_given_their_parity():
    rng = np.random.default_rng(0)
    block = bits_with_parity(np.ones(40000, dtype=np.int64), 3, rng)
    codes, counts = np.unique(block @ np.array([4, 2, 1]), return_counts=True)
    assert sorted(codes.tolist()) == [1, 2, 4, 7]  # the four odd-parity 3-bit vectors
    assert counts.min() / counts.max() > 0.95


def test_parity_rejects_a_spurious_block_that_is_not_simpler():
    with pytest.raises(ValueError, match="core_bits > spurious_bits"):
        build_dataset({**PARITY, "core_bits": 2, "spurious_bits": 3}, seed=0)


def test_unknown_generator_names_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed"):
        build_dataset({"generator": "nope"}, seed=0)


def test_moonstar_images_masks_and_quadrants():
    d = build_dataset(MOONSTAR, seed=1)
    split = d.train
    assert split.x.shape == (400, 1, 32, 32) and set(np.unique(split.x)) == {0.0, 1.0}
    assert (split.y != split.b).sum() == 40
    # core mask = exactly the drawn shape's pixels
    np.testing.assert_array_equal(split.mask("core"), split.x == 1.0)
    # the location cue sits in a quadrant of the class named by b: stars top-right/bottom-left, moons
    # top-left/bottom-right
    for i in range(len(split.x)):
        rows, cols = np.nonzero(split.mask("spurious")[i, 0] | split.mask("core")[i, 0])
        bottom, right = rows.mean() > 16, cols.mean() > 16
        if split.b[i] == MOON:
            assert bottom == right
        else:
            assert split.b[i] == STAR and bottom != right
    # the two classes are different shapes
    star_area = split.x[split.y == STAR].sum(axis=(1, 2, 3))
    moon_area = split.x[split.y == MOON].sum(axis=(1, 2, 3))
    assert len(np.unique(star_area)) == 1 and len(np.unique(moon_area)) == 1 and star_area[0] != moon_area[0]


def test_moonstar_test_set_is_balanced_over_groups():
    d = build_dataset(MOONSTAR, seed=1)
    assert np.bincount(2 * d.test.y + d.test.b, minlength=4).tolist() == [50, 50, 50, 50]


@pytest.mark.parametrize("spec", [PARITY, MOONSTAR])
def test_same_seed_same_bytes_and_round_trip(tmp_path, spec):
    save_dataset(tmp_path / "a.npz", build_dataset(spec, seed=7))
    save_dataset(tmp_path / "b.npz", build_dataset(spec, seed=7))
    a, b = load_dataset(tmp_path / "a.npz"), load_dataset(tmp_path / "b.npz")
    for name in ("train", "test"):
        for field in ("x", "y", "b", "feature"):
            np.testing.assert_array_equal(getattr(getattr(a, name), field), getattr(getattr(b, name), field))
    assert a.metadata == b.metadata and a.metadata["seed"] == 7 and a.metadata["source"] == "procedural"
    assert a.metadata["rho_train"] == spec["rho_train"] and a.metadata["rho_test"] == spec["rho_test"]
    other = build_dataset(spec, seed=8)
    assert not np.array_equal(other.train.x, a.train.x)


def test_moonstar_shape_variation_keeps_masks_and_quadrants():
    d = build_dataset({**MOONSTAR, "max_rotation": 180, "scale_jitter": 0.2}, seed=2)
    split = d.train
    np.testing.assert_array_equal(split.mask("core"), split.x == 1.0)
    areas = split.x[split.y == STAR].sum(axis=(1, 2, 3))
    assert len(np.unique(areas)) > 10  # rotated and scaled: no longer one template
    rows, cols = np.nonzero(split.mask("spurious")[0, 0] | split.mask("core")[0, 0])
    assert (rows.mean() > 16) == (cols.mean() > 16) if split.b[0] == MOON else (rows.mean() > 16) != (cols.mean() > 16)
    assert d.metadata["parameters"]["max_rotation"] == 180


def test_every_generator_writes_its_metadata_through_one_helper():
    """The keys every dataset file's metadata holds come from data.io.dataset_metadata: a generator module never
    spells out the generator's version, and the files of two generators carry the same keys."""
    import ast
    from pathlib import Path

    import spurcomp.data
    from spurcomp.data.versions import GENERATOR_VERSIONS

    for path in Path(spurcomp.data.__file__).parent.glob("*.py"):
        if path.name in ("io.py", "registry.py", "versions.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            assert not (isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "version"
                                                           for k in node.keys)), f"{path.name}:{node.lineno}"
    common = {"generator", "version", "source", "parameters", "rho_train", "rho_test", "seed", "num_classes",
              "input_range"}
    for spec in (PARITY, MOONSTAR):
        metadata = build_dataset({**spec, "n_train": 40, "n_test": 20}, seed=0).metadata
        assert common <= set(metadata) and metadata["version"] == GENERATOR_VERSIONS[spec["generator"]]
        assert metadata["parameters"]["n_train"] == 40


def test_a_summary_holds_the_training_labels_and_one_example_per_class_of_each_kind(tmp_path):
    from spurcomp.data.io import EXAMPLES_PER_KIND, load_summary, save_summary, summarise_dataset

    dataset = build_dataset({"generator": "colored_mnist", "source": "embedded", "n_train": 300, "n_test": 50,
                             "rho_train": 0.1}, seed=0)
    save_summary(tmp_path / "s.npz", summarise_dataset(dataset))
    summary = load_summary(tmp_path / "s.npz")
    train = dataset.train
    assert summary.metadata == dataset.metadata and summary.num_classes == 10
    assert np.array_equal(summary.train_y, train.y) and np.array_equal(summary.train_b, train.b)
    for kind, agrees in (("aligned", True), ("conflicting", False)):
        examples = summary.examples(kind)
        assert len(examples) == EXAMPLES_PER_KIND
        indices = [index for index, _ in examples]
        assert all((train.y[i] == train.b[i]) == agrees for i in indices)
        assert len({int(train.y[i]) for i in indices}) == EXAMPLES_PER_KIND  # one per class: different labels
        # the first sample of its class and kind, in index order
        pool = np.flatnonzero((train.y == train.b) == agrees)
        assert all(i == pool[train.y[pool] == train.y[i]][0] for i in indices)
        assert all(np.array_equal(image, train.x[i]) for i, image in examples)
    assert (tmp_path / "s.npz").stat().st_size < 0.05 * train.x.nbytes  # kilobytes beside the dataset

"""Waterbirds and CelebA against their definitions (Sagawa et al. 2020; ../shared/paper/datasets.md): the stand-ins'
groups and masks, and the official releases' layouts read from files the test writes itself."""
import csv

import numpy as np
import pytest
from PIL import Image

from spurcomp.config import ConfigError, validate_config
from spurcomp.data import build_dataset


def groups(split):
    return {(y, b): int(((split.y == y) & (split.b == b)).sum()) for y in (0, 1) for b in (0, 1)}


def test_standin_has_the_release_group_structure_and_exact_masks():
    data = build_dataset({"generator": "waterbirds", "n_train": 400, "n_test": 200, "image_size": 32}, seed=3)
    # train: 5% of each class on the other class's scene; test: each class half on land, half on water
    assert groups(data.train) == {(0, 0): 190, (0, 1): 10, (1, 0): 10, (1, 1): 190}
    assert groups(data.test) == {(0, 0): 50, (0, 1): 50, (1, 0): 50, (1, 1): 50}
    assert data.train.x.shape == (400, 3, 32, 32) and data.num_classes == 2
    assert data.metadata["source"] == "embedded" and data.train.x.min() >= 0 and data.train.x.max() <= 1
    # core = the bird, spurious = the scene, no noise; the scene tells the place: water is bluer than land
    spurious = data.test.mask("spurious")[:, 2]
    assert not data.test.mask("noise").any() and data.test.mask("core").any(axis=(1, 2, 3)).all()
    blue_minus_green = np.array([(x[2] - x[1])[m].mean() for x, m in zip(data.test.x, spurious)])
    assert (blue_minus_green[data.test.b == 1] > 0.1).all() and (blue_minus_green[data.test.b == 0] < 0).all()
    again = build_dataset({"generator": "waterbirds", "n_train": 400, "n_test": 200, "image_size": 32}, seed=3)
    assert np.array_equal(again.train.x, data.train.x)


def write_release(root, rows, name="waterbird_complete95_forest2water2"):
    """The official layout: root/waterbird_complete95_forest2water2/metadata.csv (Sagawa et al.'s tarball; WILDS
    names the folder waterbirds_v1.0) and the images it lists."""
    folder = root / name
    folder.mkdir(parents=True)
    with (folder / "metadata.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["img_id", "img_filename", "y", "split", "place", "place_filename"])
        for i, (y, split, place, colour) in enumerate(rows):
            name = f"{i:03d}.Bird/img_{i}.jpg"
            (folder / name).parent.mkdir(exist_ok=True)
            # 300 x 200: resized so that the short side is 73 (64 * 256 / 224), then cropped to 64 x 64
            Image.new("RGB", (300, 200), colour).save(folder / name, quality=100)
            writer.writerow([i + 1, name, y, split, place, f"/x/{place}.jpg"])


def test_the_official_release_is_read_from_its_folder(tmp_path):
    rows = [(0, 0, 0, (200, 10, 10)), (1, 0, 1, (10, 200, 10)), (1, 0, 0, (10, 10, 200)), (0, 1, 1, (0, 0, 0)),
            (0, 2, 1, (250, 250, 250)), (1, 2, 0, (100, 100, 100))]
    write_release(tmp_path, rows)
    spec = {"generator": "waterbirds", "source": "folder", "data_root": str(tmp_path), "image_size": 64,
            "n_train": None, "n_test": None}
    data = build_dataset(spec, seed=0)
    # split 0 is train, 2 is test; 1 (validation) is not used; y and the place (b) come from metadata.csv
    assert data.train.y.tolist() == [0, 1, 1] and data.train.b.tolist() == [0, 1, 0]
    assert data.test.y.tolist() == [0, 1] and data.test.b.tolist() == [1, 0]
    assert data.train.x.shape == (3, 3, 64, 64)
    assert np.allclose(data.train.x[1].mean(axis=(1, 2)), np.array([10, 200, 10]) / 255, atol=0.02)
    assert data.train.mask("core").all() and data.metadata["source"] == "folder"
    assert data.metadata["rho_train"] == pytest.approx(1 / 3)
    # read lazily from the same files: the same images and groups
    lazy = build_dataset({**spec, "lazy": True}, seed=0)
    assert np.array_equal(lazy.train.x[:], data.train.x) and np.array_equal(lazy.test.x[[1, 0]], data.test.x[[1, 0]])
    assert lazy.train.b.tolist() == [0, 1, 0] and lazy.metadata["rho_train"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="train split has 3 images, fewer than n_train = 5"):
        build_dataset({**spec, "n_train": 5}, seed=0)
    with pytest.raises(FileNotFoundError, match="waterbirds_v1.0/metadata.csv'\\] exists.*source: embedded"):
        build_dataset({**spec, "data_root": str(tmp_path / "nowhere")}, seed=0)
    # the same release as WILDS ships it (folder waterbirds_v1.0/) gives the same dataset
    write_release(tmp_path / "wilds", rows, name="waterbirds_v1.0")
    wilds = build_dataset({**spec, "data_root": str(tmp_path / "wilds")}, seed=0)
    assert np.array_equal(wilds.train.x, data.train.x) and wilds.test.y.tolist() == [0, 1]


def test_the_schema_knows_waterbirds(tiny_config):
    config = {**tiny_config, "datasets": {**tiny_config["datasets"], "wb": {"generator": "waterbirds"}}}
    validated = validate_config(config)
    assert validated["datasets"]["wb"]["image_size"] == 64 and validated["datasets"]["wb"]["source"] == "embedded"
    config["datasets"]["wb"] = {"generator": "waterbirds", "source": "web"}
    with pytest.raises(ConfigError, match="datasets.wb.source: 'web' is not one of \\['embedded', 'folder'\\]"):
        validate_config(config)


def test_celeba_standin_has_the_release_training_proportions():
    from spurcomp.data.celeba import TRAIN_GROUPS, group_counts

    counts = group_counts(1000)
    assert sum(counts.values()) == 1000 and counts == {(0, 0): 440, (0, 1): 411, (1, 0): 141, (1, 1): 8}
    total = sum(TRAIN_GROUPS.values())
    assert all(abs(counts[g] - 1000 * TRAIN_GROUPS[g] / total) < 1 for g in counts)
    data = build_dataset({"generator": "celeba", "n_train": 1000, "n_test": 200, "image_size": 32}, seed=1)
    assert groups(data.train) == counts and sum(groups(data.test).values()) == 200
    # core = the hair (blond: greener against red, at overlapping brightness), spurious = the chin (a beard darkens it)
    core, chin = data.train.mask("core")[:, 0], data.train.mask("spurious")[:, 0]
    hue = np.array([x[1, m].mean() / x[0, m].mean() for x, m in zip(data.train.x, core)])
    assert hue[data.train.y == 1].min() > hue[data.train.y == 0].max()
    brightness = np.array([x[:, m].mean() for x, m in zip(data.train.x, core)])
    assert brightness[data.train.y == 1].min() < brightness[data.train.y == 0].max()
    beard = np.array([x[:, m].mean() for x, m in zip(data.train.x, chin)])
    assert beard[data.train.b == 1].max() < beard[data.train.b == 0].min()
    with pytest.raises(ValueError, match="draws Blond_Hair .* and Male .* only"):
        build_dataset({"generator": "celeba", "target": "Smiling"}, seed=0)


def test_celeba_release_is_read_in_torchvisions_layout(tmp_path):
    folder = tmp_path / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = ["Bald", "Blond_Hair", "Male", "Smiling"]
    rows = [("000001.jpg", [-1, 1, -1, 1], 0), ("000002.jpg", [-1, -1, 1, -1], 0), ("000003.jpg", [1, 1, 1, 1], 1),
            ("000004.jpg", [-1, 1, 1, -1], 2), ("000005.jpg", [-1, -1, -1, 1], 2)]
    (folder / "list_attr_celeba.txt").write_text(
        f"{len(rows)}\n" + " ".join(names) + "\n" + "".join(f"{f} " + "  ".join(f"{v:2d}" for v in vals) + "\n"
                                                          for f, vals, _ in rows))
    (folder / "list_eval_partition.txt").write_text("".join(f"{f} {p}\n" for f, _, p in rows))
    for i, (name, _, _) in enumerate(rows):
        # 178 x 218, like the aligned images: the centred 178 x 178 square is resized
        image = np.zeros((218, 178, 3), dtype=np.uint8)
        image[20:198] = 40 * (i + 1)  # the centred square's rows; the 20 rows above and below stay black
        Image.fromarray(image).save(folder / "img_align_celeba" / name, quality=100)
    spec = {"generator": "celeba", "source": "folder", "data_root": str(tmp_path), "image_size": 16,
            "n_train": None, "n_test": None}
    data = build_dataset(spec, seed=0)
    assert data.train.y.tolist() == [1, 0] and data.train.b.tolist() == [0, 1]  # Blond_Hair, Male
    assert data.test.y.tolist() == [1, 0] and data.test.b.tolist() == [1, 0]
    assert data.train.x.shape == (2, 3, 16, 16) and np.allclose(data.train.x[1], 80 / 255, atol=0.02)
    lazy = build_dataset({**spec, "lazy": True}, seed=0)
    assert np.array_equal(lazy.train.x[:], data.train.x) and lazy.test.y.tolist() == [1, 0]
    swapped = build_dataset({**spec, "target": "Male", "spurious": "Blond_Hair"}, seed=0)
    assert swapped.train.y.tolist() == [0, 1] and swapped.metadata["parameters"]["target"] == "Male"
    with pytest.raises(ValueError, match="CelebA has no attribute 'Blond'; allowed"):
        build_dataset({**spec, "target": "Blond"}, seed=0)
    with pytest.raises(FileNotFoundError, match="list_attr_celeba.txt is missing"):
        build_dataset({**spec, "data_root": str(tmp_path / "nowhere")}, seed=0)

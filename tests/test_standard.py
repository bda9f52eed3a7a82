"""Standard classification data (CIFAR-10, CIFAR-100, ImageNet) against their definitions, the real releases read
from files in the official formats that the tests write, and the DeepLabV3 background masks (segmentation rule,
mIoU, cached masks, the background attribution percentage in the evaluation)."""
import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from spurcomp.data import build_dataset, load_dataset, save_dataset
from spurcomp.data.images import procedural_objects
from spurcomp.data.io import load_background_masks, save_background_masks
from spurcomp.segmentation import compute_background_masks, mean_iou, predict_background, train_segmenter


@pytest.mark.parametrize("generator,classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_standins_are_balanced_standard_classification(generator, classes):
    data = build_dataset({"generator": generator, "n_train": 400, "n_test": 200}, seed=1)
    assert data.train.x.shape == (400, 3, 32, 32) and data.num_classes == classes
    assert np.bincount(data.train.y, minlength=classes).tolist() == [400 // classes] * classes
    # no spurious label: every sample is "bias-aligned"
    assert np.array_equal(data.train.b, data.train.y) and np.array_equal(data.test.b, data.test.y)
    assert data.metadata["rho_train"] == 0.0 and data.metadata["source"] == "embedded"
    # exact masks: the object is core, its background noise; objects cover a minority of the image
    core = data.test.mask("core")
    assert not data.test.mask("spurious").any() and (core | data.test.mask("noise")).all()
    assert 0.05 < core.mean() < 0.4 and core.any(axis=(1, 2, 3)).all()
    again = build_dataset({"generator": generator, "n_train": 400, "n_test": 200}, seed=1)
    assert np.array_equal(again.test.x, data.test.x)


def test_the_100_class_standin_is_shape_times_surface_pattern():
    images, labels, masks = procedural_objects(400, np.random.default_rng(0), classes=100)
    # the 10-class images are the ones from before the patterns (same draws): a plain surface has no stripes
    ten, _, _ = procedural_objects(400, np.random.default_rng(0), classes=10)
    again, _, _ = procedural_objects(400, np.random.default_rng(0), classes=10)
    assert np.array_equal(ten, again)
    # classes >= 10 carry a pattern: their object's brightness varies far more than a plain object's shading
    spread = np.array([images[i].mean(0)[masks[i]].std() for i in range(len(labels))])
    assert np.median(spread[labels >= 10]) > 1.5 * np.median(spread[labels < 10])
    with pytest.raises(ValueError, match="10 or 100 classes"):
        procedural_objects(10, np.random.default_rng(0), classes=20)


def test_real_cifar100_is_read_from_its_python_files(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for split, n in (("train", 30), ("test", 20)):
        data = np.zeros((n, 3072), dtype=np.uint8)
        data[:, :1024] = np.arange(n)[:, None]  # the red channel tells the image apart
        with open(folder / split, "wb") as f:
            pickle.dump({b"data": data, b"fine_labels": list(range(n)), b"coarse_labels": [0] * n}, f)
    spec = {"generator": "cifar100", "source": "torchvision", "data_root": str(tmp_path), "n_train": 10, "n_test": 20}
    data = build_dataset(spec, seed=0)
    assert data.num_classes == 100 and data.metadata["base_images"] == ["CIFAR-100 (torchvision)"]
    # the fine label follows its image; the whole test split, in order
    assert np.allclose(data.train.x[:, 0, 0, 0] * 255, data.train.y)
    assert data.test.y.tolist() == list(range(20)) and (data.test.mask("core")).all()
    with pytest.raises(ValueError, match="fewer than n_test = 21"):
        build_dataset({**spec, "n_test": 21}, seed=0)
    with pytest.raises(FileNotFoundError, match="cifar-100-python"):
        build_dataset({**spec, "data_root": str(tmp_path / "none")}, seed=0)


def write_imagenet(root, classes, per_split):
    for split in ("train", "val"):
        for k, name in enumerate(classes):
            (root / "imagenet" / split / name).mkdir(parents=True)
            for i in range(per_split[split]):
                Image.new("RGB", (120, 90), (20 * k, 10 * i, 0)).save(root / "imagenet" / split / name / f"{i}.JPEG",
                                                                    quality=100)


def test_real_imagenet_is_read_from_an_image_folder(tmp_path):
    write_imagenet(tmp_path, ["n01", "n02", "n03"], {"train": 3, "val": 2})
    spec = {"generator": "imagenet", "source": "folder", "data_root": str(tmp_path), "image_size": 16,
            "n_train": 9, "n_test": 6}
    data = build_dataset(spec, seed=0)
    assert data.num_classes == 3 and data.train.x.shape == (9, 3, 16, 16)
    # labels in sorted class-folder order (ImageFolder's); the red level says the class
    assert np.allclose(data.train.x[:, 0].mean(axis=(1, 2)) * 255, 20 * data.train.y, atol=1.5)
    assert np.bincount(data.test.y).tolist() == [2, 2, 2]
    two = build_dataset({**spec, "classes": 2, "n_train": 6, "n_test": 4}, seed=0)
    assert two.num_classes == 2 and set(two.train.y) == {0, 1}
    with pytest.raises(ValueError, match="has 3 class folders"):
        build_dataset({**spec, "classes": 4}, seed=0)
    with pytest.raises(FileNotFoundError, match="ImageFolder layout"):
        build_dataset({**spec, "data_root": str(tmp_path / "none")}, seed=0)


def test_mean_iou_against_a_hand_computed_case():
    predicted = np.array([[True, True], [False, False]])
    true = np.array([[True, False], [False, False]])
    # background: |P∩T| 1 / |P∪T| 2; object: |P∩T| 2 / |P∪T| 3
    assert mean_iou(predicted, true) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert mean_iou(true, true) == 1.0


SEGMENTER = {"arch": "deeplabv3", "encoder": "resnet18", "decoder_channels": 16, "image_size": 32, "n_train": 64,
             "n_test": 16, "epochs": 1, "batch_size": 16, "lr": 0.002}


def test_segmenter_reports_its_miou_and_masks_are_cached(tmp_path):
    report = train_segmenter(SEGMENTER, 0, tmp_path / "seg.pt", tmp_path / "seg.json")
    assert json.loads((tmp_path / "seg.json").read_text()) == report
    assert 0 <= report["miou_procedural"] <= 1 and report["trained_here"]
    data = build_dataset({"generator": "cifar10", "n_train": 20, "n_test": 12}, seed=0)
    metadata = compute_background_masks(data, tmp_path / "seg.pt", tmp_path / "masks.npz")
    background, stored = load_background_masks(tmp_path / "masks.npz", data)
    assert background.shape == (12, 32, 32) and background.dtype == bool and stored == metadata
    # the stand-in's exact masks are known: the cached masks' agreement with them is recorded
    assert stored["miou_against_exact_masks"] == pytest.approx(mean_iou(background, ~data.test.mask("core")[:, 0]))
    # a dataset with another test set makes the masks stale: an error, not silently wrong masks
    other = build_dataset({"generator": "cifar10", "n_train": 20, "n_test": 13}, seed=0)
    with pytest.raises(ValueError, match="stale"):
        load_background_masks(tmp_path / "masks.npz", other)


def test_a_segmenter_is_the_same_whatever_the_process_drew_before(tmp_path):
    """Its initial weights come from the seed: drawing from torch's generator first changes nothing."""
    first = train_segmenter(SEGMENTER, 0, tmp_path / "a.pt", tmp_path / "a.json")
    torch.rand(1000)
    second = train_segmenter(SEGMENTER, 0, tmp_path / "b.pt", tmp_path / "b.json")
    assert first["miou_procedural"] == second["miou_procedural"]
    a, b = (torch.load(tmp_path / name, weights_only=False)["state"] for name in ("a.pt", "b.pt"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_pretrained_segmenter_weights_are_loaded_not_trained(tmp_path):
    from spurcomp.segmentation import build_segmenter

    torch.manual_seed(0)
    torch.save(build_segmenter(SEGMENTER).state_dict(), tmp_path / "mine.pt")
    report = train_segmenter({**SEGMENTER, "weights": str(tmp_path / "mine.pt")}, 0, tmp_path / "s.pt",
                             tmp_path / "s.json")
    assert not report["trained_here"]
    saved = torch.load(tmp_path / "s.pt", weights_only=False)
    assert all(torch.equal(saved["state"][k], v) for k, v in torch.load(tmp_path / "mine.pt").items())
    with pytest.raises(FileNotFoundError, match="segmenters"):
        train_segmenter({**SEGMENTER, "weights": str(tmp_path / "none.pt")}, 0, tmp_path / "x.pt", tmp_path / "x.json")
    with pytest.raises(ValueError, match="not trained here"):
        train_segmenter({**SEGMENTER, "arch": "deeplabv3_resnet50"}, 0, tmp_path / "x.pt", tmp_path / "x.json")


def test_predict_background_resizes_to_the_segmenters_scale():
    class Half(torch.nn.Module):
        """Background (class 0) on the left half, object on the right, at any size it is given."""

        def forward(self, x):
            right = (torch.arange(x.shape[3]) >= x.shape[3] // 2).float().expand(x.shape[0], 1, *x.shape[2:])
            return torch.cat([1 - right, right], dim=1)

    x = np.zeros((3, 3, 20, 20), dtype=np.float32)  # 20: padded to 24 for the stride, cropped back
    masks = predict_background(Half(), "deeplabv3", x, torch.device("cpu"), input_size=32)
    assert masks.shape == (3, 20, 20) and masks[:, :, :10].all() and not masks[:, :, 10:].any()


def test_background_attribution_percentage_is_evaluated_from_the_cached_masks(tmp_path):
    from spurcomp.evaluate import evaluate_run
    from spurcomp.train.engine import TrainOptions, train_run
    from spurcomp.settings import TrainingSetting

    data = build_dataset({"generator": "cifar10", "n_train": 40, "n_test": 20}, seed=0)
    save_dataset(tmp_path / "d.npz", data)
    train_run(load_dataset(tmp_path / "d.npz"), {"arch": "cnn", "width": 0.125},
              TrainingSetting(lr=0.05, batch_size=20, max_epochs=1), 0, tmp_path / "run",
              options=TrainOptions(checkpoint_epochs=[0, 1]))
    # everything background but the left column: the percentage is the attribution share off that column
    background = np.ones((20, 32, 32), dtype=bool)
    background[:, :, 0] = False
    save_background_masks(tmp_path / "m.npz", background, {"segmenter": "test"})
    settings = {"ig": {"n_samples": 20, "n_baselines": 1, "n_steps": 4, "baseline": "zero"}}
    frames = evaluate_run({"attributions": tmp_path / "a.parquet"}, data, tmp_path / "run", settings=settings,
                          background=load_background_masks(tmp_path / "m.npz", data)[0])
    rows = frames["attributions"].set_index("metric")
    percentage = rows.loc["background_attribution_pct", "value"]
    assert 90 < percentage < 100  # 31 of 32 columns
    assert rows.loc["final_attribution_entropy", "value"] == pytest.approx(
        frames["attributions"].query("metric == 'attribution_entropy'").value.iloc[-1])
    # without masks, no such row
    frames = evaluate_run({"attributions": tmp_path / "b.parquet"}, data, tmp_path / "run", settings=settings)
    assert "background_attribution_pct" not in set(frames["attributions"].metric)
    # fig. 8's maps of any test samples (standard data has no bias-conflicting ones) with each one's class probability
    settings["ig"].update(maps=3, map_pool="any")
    frames = evaluate_run({"attributions": tmp_path / "c.parquet"}, data, tmp_path / "run", settings=settings)
    rows = frames["attributions"]
    probability = rows[rows.metric == "map_target_probability"]
    assert len(rows[rows.metric == "input_image"]) == 3 and len(probability) == 3
    assert probability.value.between(0, 1).all() and set(probability.epoch) == {1}
    assert set(probability.group) == set(rows[rows.metric == "attribution_map"].group)
    settings["ig"]["map_pool"] = "bias_conflicting"  # none here: no maps
    frames = evaluate_run({"attributions": tmp_path / "d.parquet"}, data, tmp_path / "run", settings=settings)
    assert "input_image" not in set(frames["attributions"].metric)


def test_end_of_training_attributions_come_from_the_final_weights_between_checkpoints(tmp_path):
    """A run stopped by max_epochs after its last checkpoint epoch (3 after 0 and 1): its attributions through
    training end with its final weights, and its end-of-training numbers and last maps are theirs."""
    from spurcomp.evaluate import evaluate_run
    from spurcomp.settings import TrainingSetting
    from spurcomp.train.engine import TrainOptions, train_run

    data = build_dataset({"generator": "cifar10", "n_train": 40, "n_test": 20}, seed=0)
    summary = train_run(data, {"arch": "cnn", "width": 0.125}, TrainingSetting(lr=0.05, batch_size=20, max_epochs=3),
                        0, tmp_path / "run", options=TrainOptions(checkpoint_epochs=[0, 1]))
    # 40 images of 10 classes: not fitted in 3 epochs (and marked collapsed: one class predicted), weights finite
    assert summary["epochs"] == 3 and summary["status"] != "converged"
    assert summary["checkpoints"] == ["epoch=00000.pt", "epoch=00001.pt"]
    settings = {"ig": {"n_samples": 8, "n_baselines": 1, "n_steps": 4, "baseline": "zero", "maps": 2,
                       "map_pool": "any", "map_epochs": "last"}}
    rows = evaluate_run({"attributions": tmp_path / "a.parquet"}, data, tmp_path / "run", settings=settings)["attributions"]
    entropy = rows[rows.metric == "attribution_entropy"]
    assert list(entropy.epoch) == [0, 1, 3]
    final = rows[rows.metric.isin(["spurious_attribution_share", "final_attribution_entropy",
                                   "map_target_probability", "attribution_map"])]
    assert set(final.epoch) == {3}
    assert rows[rows.metric == "final_attribution_entropy"].value.iloc[0] == entropy.value.iloc[-1]
    # the epoch-3 numbers are the final weights', not epoch 1's: training moved them
    assert entropy.value.iloc[-1] != entropy.value.iloc[1]


def test_real_cifar10_is_read_from_its_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, n in [(f"data_batch_{i}", 4) for i in range(1, 6)] + [("test_batch", 10)]:
        data = np.zeros((n, 3072), dtype=np.uint8)
        labels = [(i * 3 + len(name)) % 10 for i in range(n)]
        data[:, 2048:] = np.array(labels)[:, None] * 20  # the blue channel says the label
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels}, f)
    data = build_dataset({"generator": "cifar10", "source": "torchvision", "data_root": str(tmp_path), "n_train": 20,
                          "n_test": 10}, seed=0)
    assert data.metadata["base_images"] == ["CIFAR-10 (torchvision)"] and data.num_classes == 10
    assert np.allclose(data.train.x[:, 2, 0, 0] * 255, 20 * data.train.y) and np.array_equal(data.train.b, data.train.y)
    assert data.test.mask("core").all()  # no object masks in the release
    assert "segmenter" in data.metadata["feature_masks"]

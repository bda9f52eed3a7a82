"""Lazily read datasets (``lazy: true``): the dataset file lists a release's images, which are decoded when used.
They must be the in-memory dataset in every number: the same images, the same training run, the same evaluation."""
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from spurcomp.config import ConfigError, validate_config
from spurcomp.data import build_dataset, load_dataset, save_dataset
from spurcomp.data.files import ImageFiles
from spurcomp.data.tensors import DeviceImages, images_on
from spurcomp.evaluate import evaluate_run
from spurcomp.runtime import setup_torch
from spurcomp.settings import TrainingSetting
from spurcomp.train.engine import TrainOptions, train_run

CLASSES = ["n01", "n02", "n03"]


def write_noisy_imagenet(root, per_split, seed=0):
    """An ImageFolder release of noisy JPEGs whose red level says the class (every image differs)."""
    rng = np.random.default_rng(seed)
    for split, n in per_split.items():
        for k, name in enumerate(CLASSES):
            folder = root / "imagenet" / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 120, size=(30, 40, 3), dtype=np.uint8)
                pixels[..., 0] += np.uint8(60 * k)
                Image.fromarray(pixels).save(folder / f"{i}.JPEG", quality=95)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    write_noisy_imagenet(root, {"train": 8, "val": 4})
    return root


def spec(root, **extra):
    return {"generator": "imagenet", "source": "folder", "data_root": str(root), "image_size": 16, "n_train": 18,
            "n_test": None, **extra}


def test_lazily_read_images_are_the_in_memory_ones(release, tmp_path):
    eager = build_dataset(spec(release), seed=0)
    lazy = build_dataset(spec(release, lazy=True, n_train=18), seed=0)
    assert isinstance(lazy.train.x, ImageFiles) and lazy.train.x.shape == eager.train.x.shape == (18, 3, 16, 16)
    assert len(lazy.test.x) == 12  # n_test null: the whole validation split
    assert np.array_equal(lazy.train.y, eager.train.y) and np.array_equal(lazy.test.b, lazy.test.y)
    # every way of indexing gives what the array gives
    x = eager.train.x
    assert np.array_equal(np.asarray(lazy.train.x), x)
    assert np.array_equal(lazy.train.x[5], x[5]) and np.array_equal(lazy.train.x[-1], x[-1])
    assert np.array_equal(lazy.train.x[[7, 2, 7]], x[[7, 2, 7]])
    assert np.array_equal(lazy.train.x[torch.tensor([3, 0])], x[[3, 0]])
    assert np.array_equal(lazy.train.x[eager.train.y == 1], x[eager.train.y == 1])
    assert np.array_equal(lazy.train.x[np.array([[1, 2], [3, 4]])], x[np.array([[1, 2], [3, 4]])])
    # chunked passes read the next chunk ahead; a pass that jumps elsewhere still gets what it asks for
    assert all(np.array_equal(lazy.train.x[i:i + 4], x[i:i + 4]) for i in range(0, 18, 4))
    assert np.array_equal(lazy.train.x[2:6], x[2:6]) and np.array_equal(lazy.train.x[::5], x[::5])
    batches = [np.array([4, 1]), np.array([0]), np.array([17, 3, 9])]
    assert all(np.array_equal(a, x[i]) for a, i in zip(lazy.train.x.batches(batches), batches))
    with pytest.raises(IndexError, match="out of bounds for 18 images"):
        lazy.train.x[[0, 18]]
    # photographs have no masks: every feature is core, as a view rather than an array the size of the images
    assert lazy.train.mask("core").all() and not lazy.train.mask("spurious").any()
    assert not any(lazy.train.mask("core").strides)
    # the lazy dataset's file holds paths and labels, not pixels
    save_dataset(tmp_path / "lazy.npz", lazy)
    save_dataset(tmp_path / "eager.npz", eager)
    with np.load(tmp_path / "lazy.npz") as f:
        assert "train_x" not in f and f["train_files"][0].startswith("train/n0")
    loaded = load_dataset(tmp_path / "lazy.npz", read_workers=2)
    assert isinstance(loaded.test.x, ImageFiles) and loaded.test.x.workers == 2
    assert np.array_equal(loaded.train.x[:], x) and np.array_equal(loaded.test.x[:], eager.test.x)
    assert loaded.metadata["parameters"]["lazy"] is True and "lazy" not in eager.metadata["parameters"]


def test_training_and_evaluating_a_lazily_read_dataset_gives_the_same_numbers(release, tmp_path):
    setup_torch(1, torch.device("cpu"))
    eager = build_dataset(spec(release), seed=0)
    save_dataset(tmp_path / "lazy.npz", build_dataset(spec(release, lazy=True), seed=0))
    lazy = load_dataset(tmp_path / "lazy.npz", read_workers=2)
    model = {"arch": "cnn", "width": 0.125}
    setting = TrainingSetting(lr=0.05, batch_size=5, max_epochs=3)  # 4 steps an epoch, the last one of 3
    # kept: the splits fit the cache, so they are decoded once and their bytes held on the device
    kept = load_dataset(tmp_path / "lazy.npz", read_workers=2, cache_bytes=10 ** 6)
    assert kept.train.x.cached and kept.test.x.cached
    runs = {"eager": eager, "lazy": lazy, "kept": kept}
    for name, data in runs.items():
        train_run(data, model, setting, 0, tmp_path / name, options=TrainOptions(checkpoint_epochs=[0, 3]))
    histories = [pd.read_parquet(tmp_path / name / "history.parquet") for name in runs]
    pd.testing.assert_frame_equal(histories[0], histories[1])
    pd.testing.assert_frame_equal(histories[0], histories[2])
    weights = [torch.load(tmp_path / name / "weights.pt")["model"] for name in runs]
    assert all(torch.equal(weights[0][key], w[key]) for w in weights[1:] for key in weights[0])
    settings = {"kappas": [0.2, 0.6], "ig": {"n_samples": 6, "n_baselines": 1, "n_steps": 4, "baseline": "zero",
                                             "maps": 2, "map_pool": "any"}}
    families = ["accuracy", "pruning", "representation", "attributions"]
    frames = [evaluate_run({f: tmp_path / f"{name}-{f}.parquet" for f in families}, data, tmp_path / name,
                           settings=settings) for name, data in runs.items()]
    for family in families:
        pd.testing.assert_frame_equal(frames[0][family], frames[1][family])
        pd.testing.assert_frame_equal(frames[0][family], frames[2][family])


def test_device_images_answer_like_a_tensor(release):
    lazy = build_dataset(spec(release, lazy=True), seed=0)
    eager = build_dataset(spec(release), seed=0)
    images = images_on(lazy.train.x, torch.device("cpu"))
    tensor = images_on(eager.train.x, torch.device("cpu"))
    assert isinstance(images, DeviceImages) and isinstance(tensor, torch.Tensor)
    assert images.shape == tensor.shape and len(images) == len(tensor) and images.device == tensor.device
    assert torch.equal(images[torch.tensor([2, 9])], tensor[[2, 9]]) and torch.equal(images[4:9], tensor[4:9])
    lazy.train.x.cached = True  # kept in memory: the bytes held as a tensor, converted per index, the same numbers
    resident = images_on(lazy.train.x, torch.device("cpu"))
    assert torch.equal(resident[np.array([2, 9])], tensor[[2, 9]]) and torch.equal(resident[4:9], tensor[4:9])
    batches = resident.batches([torch.tensor([0, 17]), torch.tensor([3])])
    assert torch.equal(torch.cat(list(batches)), tensor[[0, 17, 3]])


def test_lazy_needs_a_folder_and_its_files(release, tmp_path, tiny_config):
    with pytest.raises(ValueError, match="lazy: true reads the images from their files, so it needs source: folder"):
        build_dataset({"generator": "imagenet", "n_train": 20, "n_test": 10, "lazy": True}, seed=0)
    tiny_config["datasets"]["standin"] = {"generator": "celeba", "lazy": True}
    with pytest.raises(ConfigError, match="datasets.standin.lazy: true .* needs source: folder"):
        validate_config(tiny_config)
    # an image gone after the dataset file was written: the read names it and says how to recover; a split kept in
    # memory (it fits the cache) decodes each image once, so a read after the first does not need the files
    copy = tmp_path / "copy"
    write_noisy_imagenet(copy, {"train": 2, "val": 1})
    save_dataset(tmp_path / "d.npz", build_dataset({**spec(copy, lazy=True), "n_train": None}, seed=0))
    kept = load_dataset(tmp_path / "d.npz", read_workers=2, cache_bytes=6 * 3 * 16 * 16)
    not_kept = load_dataset(tmp_path / "d.npz", read_workers=2, cache_bytes=6 * 3 * 16 * 16 - 1)
    assert kept.train.x.cached and not not_kept.train.x.cached
    first = kept.train.x[[4, 1]]
    everything = kept.train.x[:]
    (copy / "imagenet" / "train" / "n02" / "1.JPEG").unlink()
    assert np.array_equal(kept.train.x[:], everything) and np.array_equal(first, everything[[4, 1]])
    with pytest.raises(FileNotFoundError, match=r"n02/1.JPEG is gone: .*lazy: true.*rebuild the dataset"):
        not_kept.train.x[:]
    with pytest.raises(FileNotFoundError, match="1 image files listed .* do not exist"):
        from spurcomp.data.files import photo_split
        photo_split(copy / "imagenet", ["train/n02/1.JPEG"], [0], [0], 16, "resize_crop", lazy=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_decoding_workers_end_with_a_job_killed_outright(release, tmp_path):
    # a job killed with SIGKILL (out of memory, a scheduler) cannot stop its workers itself: the kernel does
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal
        from spurcomp.data import build_dataset
        data = build_dataset({spec(release, lazy=True)!r}, seed=0)
        data.train.x.workers = 2
        data.train.x[[0, 1, 2]]
        open({str(tmp_path / "workers")!r}, "w").write(" ".join(str(pid) for pid in data.train.x._pool._processes))
        os.kill(os.getpid(), signal.SIGKILL)
    """))
    # no pipes: a worker left alive would hold them open
    result = subprocess.run([sys.executable, str(script)], stdout=subprocess.DEVNULL, timeout=120)
    workers = [int(pid) for pid in (tmp_path / "workers").read_text().split()]
    assert len(workers) == 2 and result.returncode == -signal.SIGKILL

    def running(pid):  # a dead worker nobody reaps stays a zombie (Z)
        status = Path(f"/proc/{pid}/status")
        return status.exists() and "\nState:\tZ" not in status.read_text()
    deadline = time.monotonic() + 10
    while any(map(running, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(running, workers))

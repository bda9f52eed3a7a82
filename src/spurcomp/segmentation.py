"""Background masks for the background attribution percentage (paper sec. 5): a DeepLabV3 segmenter [7] marks
each test image's background; the percentage of a model's attributions that falls there measures its use of
the background, a suspected spurious feature of standard classification data.

Segmenters (the config's ``segmenters:`` section) come in two architectures:

- ``deeplabv3`` (default): segmentation-models-pytorch's DeepLabV3 (encoder from the config, two classes:
  background, object). From the user's weights (``weights``: a state dict of the same model) where given;
  otherwise trained here, offline, on images of the procedural generator (``spurcomp.data.images``) and their
  exact object masks. Its mIoU on held-out procedural images is reported.
- ``deeplabv3_resnet50``: torchvision's DeepLabV3-ResNet50 with the user's pretrained weights (``weights``: the
  COCO-with-VOC-labels state dict, e.g. torchvision's ``deeplabv3_resnet50_coco``), the segmenter of the paper's
  era; background is VOC class 0. Not trained here (it needs real segmentation data).

A dataset names its segmenter (``background_masks: NAME``); its test images' masks are computed once and cached
(``results/masks/DATASET.npz``); where the dataset has exact object masks (the procedural stand-ins), the
masks' mIoU against them is recorded too.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spurcomp.data.images import procedural_objects
from spurcomp.data.io import FEATURE_CODES, Dataset, save_background_masks, split_streams
from spurcomp.runtime import atomic_torch_save, atomic_write_text, derived_seed, logger

ARCHITECTURES = ("deeplabv3", "deeplabv3_resnet50")
# torchvision's segmentation weights expect ImageNet-normalised inputs
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def build_segmenter(spec: dict) -> nn.Module:
    arch = spec.get("arch", "deeplabv3")
    if arch == "deeplabv3":
        import segmentation_models_pytorch as smp

        return smp.DeepLabV3(encoder_name=spec.get("encoder", "resnet18"), encoder_weights=None, in_channels=3,
                             classes=2, decoder_channels=spec.get("decoder_channels", 64))
    if arch == "deeplabv3_resnet50":
        from torchvision.models.segmentation import deeplabv3_resnet50

        return deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    raise ValueError(f"unknown segmenter architecture {arch!r}; allowed: {list(ARCHITECTURES)}")


def _logits(model: nn.Module, arch: str, x: torch.Tensor) -> torch.Tensor:
    if arch == "deeplabv3_resnet50":
        mean = torch.tensor(IMAGENET_MEAN, device=x.device)[:, None, None]
        std = torch.tensor(IMAGENET_STD, device=x.device)[:, None, None]
        return model((x - mean) / std)["out"]
    return model(x)


@torch.no_grad()
def predict_background(model: nn.Module, arch: str, x: np.ndarray, device, batch_size: int = 64,
                       input_size: int | None = None) -> np.ndarray:
    """Boolean background masks (N, H, W) of images ``x`` (N, 3, H, W) in [0, 1]. ``input_size``: the side the
    segmenter saw in training; other images are resized to it and the scores back to theirs (objects keep the
    scale it learned). Sides not a multiple of 8 (the encoders' stride) are padded by reflection."""
    model.eval()
    height, width = x.shape[2:]
    size = (input_size, input_size) if input_size else (height, width)
    pad_h, pad_w = -size[0] % 8, -size[1] % 8
    out = np.empty((len(x), height, width), dtype=bool)
    for start in range(0, len(x), batch_size):
        batch = torch.as_tensor(x[start:start + batch_size], device=device)
        if size != (height, width):
            batch = nn.functional.interpolate(batch, size=size, mode="bilinear", align_corners=False)
        if pad_h or pad_w:
            batch = nn.functional.pad(batch, (0, pad_w, 0, pad_h), mode="reflect")
        scores = _logits(model, arch, batch)[:, :, :size[0], :size[1]]
        if size != (height, width):
            scores = nn.functional.interpolate(scores, size=(height, width), mode="bilinear", align_corners=False)
        out[start:start + len(batch)] = (scores.argmax(dim=1) == 0).cpu().numpy()  # class 0: background (both)
    return out


def mean_iou(predicted_background: np.ndarray, true_background: np.ndarray) -> float:
    """Mean over the two classes (background, object) of intersection over union, over all pixels of all images.
    A class absent from both prediction and truth is left out of the mean."""
    ious = []
    for predicted, true in ((predicted_background, true_background), (~predicted_background, ~true_background)):
        union = np.logical_or(predicted, true).sum()
        if union:
            ious.append(np.logical_and(predicted, true).sum() / union)
    return float(np.mean(ious)) if ious else float("nan")


def procedural_segmentation_data(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Images of the procedural generator (its 100 classes: every shape and surface pattern) and their background
    masks."""
    images, _, object_mask = procedural_objects(n, rng, size=size, classes=100)
    return images, ~object_mask


def train_segmenter(spec: dict, seed: int, out_weights, out_report, device=None) -> dict:
    """Train (or load, then evaluate) the segmenter of ``spec``; write its weights and a JSON report with its mIoU
    on held-out procedural images. Returns the report."""
    device = device or torch.device("cpu")
    arch = spec.get("arch", "deeplabv3")
    # the initial weights from the seed, whatever the process drew from torch's generator before
    torch.manual_seed(derived_seed("segmenter-init", seed))
    model = build_segmenter(spec).to(device)
    streams = split_streams(derived_seed("segmenter", seed))
    size = spec["image_size"]
    weights = spec.get("weights")
    if weights:
        if not Path(weights).exists():
            raise FileNotFoundError(f"segmenter weights {weights} do not exist (the config's segmenters.*.weights); "
                                    f"remove the key to train the segmenter here on procedural images")
        model.load_state_dict(torch.load(weights, map_location=device, weights_only=True))
        logger.info("segmenter %s: weights loaded from %s", arch, weights)
    elif arch != "deeplabv3":
        raise ValueError(f"segmenter architecture {arch!r} is not trained here: give its pretrained weights "
                         f"(weights: PATH), or use arch: deeplabv3")
    else:
        _fit(model, spec, streams["train"], device, seed)
    test_x, test_background = procedural_segmentation_data(spec["n_test"], size, streams["test"])
    predicted = predict_background(model, arch, test_x, device)
    report = {"arch": arch, "spec": spec, "seed": seed, "trained_here": not weights,
              "miou_procedural": mean_iou(predicted, test_background),
              "pixel_accuracy_procedural": float((predicted == test_background).mean()),
              "held_out_images": int(spec["n_test"]), "image_size": size}
    logger.info("segmenter %s: mIoU %.3f on %d held-out procedural images", arch, report["miou_procedural"],
                spec["n_test"])
    Path(out_weights).parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save({"spec": spec, "arch": arch, "state": model.state_dict(), "report": report}, out_weights)
    atomic_write_text(out_report, json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def _fit(model: nn.Module, spec: dict, rng: np.random.Generator, device, seed: int) -> None:
    x, background = procedural_segmentation_data(spec["n_train"], spec["image_size"], rng)
    x, target = torch.as_tensor(x), torch.as_tensor((~background).astype(np.int64))  # 1: object
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    generator = torch.Generator().manual_seed(derived_seed("segmenter-order", seed))
    model.train()
    for epoch in range(spec["epochs"]):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x) - 1, spec["batch_size"]):
            index = order[start:start + spec["batch_size"]]
            if len(index) < 2:  # batch norm needs two samples
                continue
            loss = nn.functional.cross_entropy(model(x[index].to(device)), target[index].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        logger.info("segmenter epoch %d/%d: training loss %.4f", epoch + 1, spec["epochs"], total / len(x))


def load_segmenter(path, device) -> tuple[nn.Module, str, dict]:
    saved = torch.load(path, map_location=device, weights_only=False)
    model = build_segmenter(saved["spec"]).to(device)
    model.load_state_dict(saved["state"])
    return model.eval(), saved["arch"], saved["report"]


def compute_background_masks(dataset: Dataset, segmenter_path, out, device=None) -> dict:
    """The background masks of ``dataset``'s test images by the segmenter in ``segmenter_path``, cached in ``out``
    (``.npz``: ``test_background`` bool (N, H, W) and a JSON ``metadata``); returns the metadata."""
    device = device or torch.device("cpu")
    model, arch, report = load_segmenter(segmenter_path, device)
    # the trained deeplabv3 works at the procedural images' scale; a pretrained one at the dataset's own
    input_size = report["image_size"] if report["trained_here"] else None
    background = predict_background(model, arch, dataset.test.x, device, input_size=input_size)
    metadata = {"segmenter": str(segmenter_path), "arch": arch, "segmenter_miou_procedural": report["miou_procedural"],
                "dataset": dataset.metadata.get("generator"), "dataset_source": dataset.metadata.get("source"),
                "images": int(len(background)), "background_fraction": float(background.mean())}
    # the procedural stand-ins know where the object is (its pixels are core, the rest noise): how well do the
    # masks match?
    codes = dataset.test.feature[:, 0]
    if (codes == FEATURE_CODES["noise"]).any():
        metadata["miou_against_exact_masks"] = mean_iou(background, codes != FEATURE_CODES["core"])
    save_background_masks(out, background, metadata)
    logger.info("background masks of %d test images: %.1f%% background%s", len(background),
                100 * metadata["background_fraction"],
                f", mIoU {metadata['miou_against_exact_masks']:.3f} against the exact masks"
                if "miou_against_exact_masks" in metadata else "")
    return metadata

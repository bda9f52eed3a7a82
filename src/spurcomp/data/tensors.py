"""A split's inputs as model inputs on a device, whether the dataset holds its images in memory (a tensor) or reads
them from their files (:class:`DeviceImages` over :class:`spurcomp.data.files.ImageFiles`).

Training, evaluation and the metrics index inputs (``x[idx]``, ``x[i:j]``) and take ``len(x)``, ``x.shape`` and
``x.device``: both kinds answer those the same way, so nothing downstream knows which it has.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from spurcomp.data.files import ImageFiles
from spurcomp.data.images import as_float


class DeviceImages:
    """Lazily read images seen as a float32 tensor on ``device``: indexing reads and decodes those images (on the
    CPU) and returns them as a tensor there. A split kept in memory (``ImageFiles.cached``) is decoded once, at the
    first use, and its bytes stay on the device (a quarter of its float32 size), converted per index."""

    dtype = torch.float32
    ndim = 4

    def __init__(self, images: ImageFiles, device: torch.device, channels_last: bool = False):
        self.images = images
        self.device = torch.device(device)
        self.channels_last = channels_last
        self._resident: torch.Tensor | None = None  # the cached split's uint8 images on the device
        # byte -> float32 by lookup in the table of spurcomp.data.images.as_float: the same numbers as the CPU path
        # (torch divides by a scalar as a multiplication by its reciprocal, which rounds otherwise)
        self._to_float = torch.from_numpy(as_float(np.arange(256, dtype=np.uint8))).to(self.device)

    @property
    def shape(self) -> torch.Size:
        return torch.Size(self.images.shape)

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return f"DeviceImages({self.images!r} on {self.device})"

    def __getitem__(self, key) -> torch.Tensor:
        if self.images.cached:
            if not isinstance(key, (int, slice)):
                key = torch.as_tensor(np.asarray(key.cpu() if isinstance(key, torch.Tensor) else key),
                                      device=self.device)
            return self._as_float(self._resident_bytes()[key])
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        return self._on_device(self.images[key])

    def batches(self, chunks: Sequence[torch.Tensor]) -> Iterator[torch.Tensor]:
        """The images of each index tensor in ``chunks``, read ahead of the caller (a training epoch)."""
        if self.images.cached:
            yield from (self[chunk] for chunk in chunks)
            return
        for images in self.images.batches([chunk.cpu().numpy() for chunk in chunks]):
            yield self._on_device(images)

    def _resident_bytes(self) -> torch.Tensor:
        if self._resident is None:
            self._resident = torch.from_numpy(self.images.all_bytes()).to(self.device)
        return self._resident

    def _as_float(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._layout(self._to_float[pixels.int()])

    def _on_device(self, images: np.ndarray) -> torch.Tensor:
        return self._layout(torch.from_numpy(images).to(self.device))

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x


def images_on(x, device: torch.device, channels_last: bool = False) -> torch.Tensor | DeviceImages:
    """A split's inputs ``x`` on ``device``: an in-memory array as a float32 tensor there, lazily read images as
    :class:`DeviceImages`."""
    if isinstance(x, ImageFiles):
        return DeviceImages(x, device, channels_last)
    tensor = torch.as_tensor(x, dtype=torch.float32, device=device)
    return tensor.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def batches_of(x: torch.Tensor | DeviceImages, chunks: Sequence[torch.Tensor]) -> Iterator[torch.Tensor]:
    """``x[chunk]`` for each index tensor in ``chunks``, in order (lazily read images: read ahead)."""
    if isinstance(x, DeviceImages):
        return x.batches(chunks)
    return (x[chunk] for chunk in chunks)

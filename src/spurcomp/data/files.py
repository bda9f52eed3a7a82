"""Photographs read from their files when they are used (``lazy: true`` of the folder sources: ImageNet-1k, CelebA,
Waterbirds): the dataset file then holds the images' paths and labels, not their pixels.

The whole of ImageNet-1k at 224 px is 770 GB as float32 and CelebA's 162,770 training images are 98 GB: neither fits
one in-memory dataset file. :class:`ImageFiles` is an array of images that decodes the ones asked for (an index, a
slice, an index array) with the transform of the in-memory path (:func:`spurcomp.data.images.load_image_file`), so
a run gives the same numbers either way. It decodes in a pool of threads (PIL releases the GIL while it decodes and
resizes), reads the next slice ahead while the caller works on this one (the chunked passes of training-set and
test-set evaluation), and reads a list of batches ahead of the training loop (:meth:`ImageFiles.batches`).
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from spurcomp.data.images import IMAGE_TRANSFORMS, load_image_file
from spurcomp.data.io import FEATURE_CODES, Split

# batches a training loop has in flight ahead of the one it is working on
READ_AHEAD = 2


def available_cpus() -> int:
    """The CPUs this process may run on (SLURM's allocation on a cluster), not the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class ImageFiles:
    """Images (N, 3, size, size) float32 in [0, 1], each decoded from ``root / files[i]`` when it is indexed.

    Indexing works as on a NumPy array for an integer, a slice, an integer index array (any shape) or a boolean
    one, and returns a NumPy array. ``threads`` decode at once (default: the CPUs this process may use)."""

    dtype = np.dtype(np.float32)
    ndim = 4

    def __init__(self, root: str | os.PathLike, files, size: int, transform: str, threads: int | None = None):
        if transform not in IMAGE_TRANSFORMS:
            raise ValueError(f"unknown image transform {transform!r}; allowed: {list(IMAGE_TRANSFORMS)}")
        self.root = Path(root)
        self.files = np.asarray(files, dtype=str)
        self.size = int(size)
        self.transform = transform
        self.threads = max(1, int(threads or available_cpus()))
        self._decoders: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None  # one thread that runs whole reads ahead of the caller
        self._ahead: tuple[tuple[int, int], Future] | None = None  # the slice read ahead, and its read

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), 3, self.size, self.size)

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return (f"ImageFiles({len(self)} images under {self.root}, {self.size}x{self.size}, {self.transform}, "
                f"{self.threads} threads)")

    def __array__(self, dtype=None, copy=None):
        images = self.read(np.arange(len(self)))
        return images if dtype is None else images.astype(dtype)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            if not -len(self) <= key < len(self):
                raise IndexError(f"index {key} is out of bounds for {len(self)} images")
            return self.read(np.array([key % len(self)]))[0]
        if isinstance(key, slice):
            index = np.arange(len(self))[key]
            if key.step not in (None, 1) or not len(index):
                return self.read(index)
            start, stop = int(index[0]), int(index[-1]) + 1
            images = self._take_ahead((start, stop))
            images = self.read(index) if images is None else images
            # a chunked pass over the split (predict_logits and its kind): read the next chunk meanwhile
            after = (stop, min(len(self), stop + (stop - start)))
            self._ahead = (after, self._read_later(np.arange(*after))) if after[0] < after[1] else None
            return images
        index = np.asarray(key)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise IndexError(f"a boolean index of shape {index.shape} for {len(self)} images")
            index = np.flatnonzero(index)
        if not np.issubdtype(index.dtype, np.integer):
            raise IndexError(f"images are indexed by an integer, a slice or an integer or boolean array, not {key!r}")
        if index.size and (index.min() < -len(self) or index.max() >= len(self)):
            raise IndexError(f"an index is out of bounds for {len(self)} images")
        # an index array of any shape (the vectorised engine's (runs, batch)) gives images of that shape
        return self.read(index.ravel() % max(len(self), 1)).reshape(*index.shape, *self.shape[1:])

    def read(self, index: np.ndarray) -> np.ndarray:
        """The images at ``index`` (non-negative), decoded in parallel."""
        images = np.empty((len(index), 3, self.size, self.size), dtype=np.float32)

        def decode(k: int) -> None:
            images[k] = self._decode(int(index[k]))
        if len(index) > 1 and self.threads > 1:
            if self._decoders is None:
                self._decoders = ThreadPoolExecutor(self.threads, thread_name_prefix="spurcomp-decode")
            list(self._decoders.map(decode, range(len(index))))
        else:
            for k in range(len(index)):
                decode(k)
        return images

    def batches(self, chunks) -> Iterator[np.ndarray]:
        """The images of each index array in ``chunks``, in order, read :data:`READ_AHEAD` chunks ahead of the
        caller (a training epoch's mini-batches)."""
        chunks = list(chunks)
        pending: deque[Future] = deque()
        submitted = 0
        for _ in range(len(chunks)):
            while submitted < len(chunks) and len(pending) <= READ_AHEAD:
                pending.append(self._read_later(np.asarray(chunks[submitted])))
                submitted += 1
            yield pending.popleft().result()

    def _decode(self, i: int) -> np.ndarray:
        path = self.root / self.files[i]
        try:
            return load_image_file(path, self.size, self.transform)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"image {path} is gone: this dataset reads its images from their files (lazy: true) under "
                f"{self.root}; restore the file, or rebuild the dataset (delete its .npz) from the folder as it is "
                f"now") from None

    def _read_later(self, index: np.ndarray) -> Future:
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="spurcomp-read-ahead")
        return self._reader.submit(self.read, index)

    def _take_ahead(self, bounds: tuple[int, int]) -> np.ndarray | None:
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        if ahead[0] != bounds:
            ahead[1].cancel()  # not the slice asked for: dropped (a read already running just finishes)
            return None
        return ahead[1].result()


def check_lazy(lazy: bool, source: str, name: str) -> None:
    """``lazy`` reads a release's image files; a stand-in is generated in memory."""
    if lazy and source != "folder":
        raise ValueError(f"{name}: lazy: true reads the images from their files, so it needs source: folder (the "
                         f"{source} source is built in memory); set lazy: false")


def lazy_parameter(lazy: bool) -> dict:
    """The ``lazy`` entry of a dataset's recorded parameters: only when true, so a dataset built before the option
    keeps its identity (and its runs)."""
    return {"lazy": True} if lazy else {}


def photo_split(root: Path, files: list[str], y: np.ndarray, b: np.ndarray, size: int, transform: str,
                lazy: bool) -> Split:
    """A split of photographs ``root / files[i]`` with labels ``y`` and bias labels ``b``: decoded now into memory,
    or (``lazy``) read from the files whenever used. Photographs have no pixel masks: every feature is core."""
    if lazy:
        missing = [name for name in files if not (root / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{len(missing)} image files listed for {root} do not exist, e.g. "
                                    f"{root / missing[0]}")
        x = ImageFiles(root, files, size, transform)
    elif files:
        x = np.stack([load_image_file(root / name, size, transform) for name in files])
    else:
        x = np.empty((0, 3, size, size), dtype=np.float32)
    return Split(x=x, y=np.asarray(y, dtype=np.int64), b=np.asarray(b, dtype=np.int64),
                 feature=np.broadcast_to(np.uint8(FEATURE_CODES["core"]), x.shape))

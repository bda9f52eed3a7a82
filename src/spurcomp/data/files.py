"""Photographs read from their files when they are used (``lazy: true`` of the folder sources: ImageNet-1k, CelebA,
Waterbirds): the dataset file then holds the images' paths and labels, not their pixels.

The whole of ImageNet-1k at 224 px is 770 GB as float32 and CelebA's 162,770 training images are 98 GB: neither fits
one in-memory dataset file. :class:`ImageFiles` is an array of images that decodes the ones asked for (an index, a
slice, an index array) with the transform of the in-memory path (:func:`spurcomp.data.images.image_bytes`), so a
run gives the same numbers either way. It decodes in forked worker processes (threads share the GIL: on 16 cores they
decoded at most 1,500 ImageNet-sized JPEGs a second), reads the next slice ahead while the caller works on this one
(the chunked passes of training-set and test-set evaluation) and a list of batches ahead of the training loop
(:meth:`ImageFiles.batches`), and keeps a split's decoded bytes in memory when they fit the budget it is given
(the test split's many evaluation passes, and every epoch after the first of a split that fits).
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import warnings
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from spurcomp.data.images import IMAGE_TRANSFORMS, as_float, image_bytes
from spurcomp.data.io import FEATURE_CODES, Split

# batches a training loop has in flight ahead of the one it is working on
READ_AHEAD = 2
# tasks per worker process in one read: small enough to spread a batch, large enough to amortise the messages
TASKS_PER_WORKER = 2


def available_cpus() -> int:
    """The CPUs this process may run on (SLURM's allocation on a cluster), not the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _decode_files(paths: list[str], size: int, transform: str) -> np.ndarray:
    """Decode ``paths`` into (len, 3, size, size) uint8 (a worker process's task)."""
    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for k, path in enumerate(paths):
        out[k] = image_bytes(path, size, transform)
    return out


def _die_with_parent() -> None:
    """A decoding worker's initializer: on Linux, ask the kernel to end this process when its parent ends, so a job
    killed outright (out of memory, a scheduler's SIGKILL) leaves no workers behind."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


class ImageFiles:
    """Images (N, 3, size, size) float32 in [0, 1], each decoded from ``root / files[i]`` when it is indexed.

    Indexing works as on a NumPy array for an integer, a slice, an integer index array (any shape) or a boolean
    one, and returns a NumPy array. ``workers`` processes decode at once (1: this process; default: the CPUs this
    process may use). ``cache_bytes``: if the split's decoded images (uint8) fit in this many bytes, each image is
    decoded once and kept."""

    dtype = np.dtype(np.float32)
    ndim = 4

    def __init__(self, root: str | os.PathLike, files, size: int, transform: str, workers: int | None = None,
                 cache_bytes: int = 0):
        if transform not in IMAGE_TRANSFORMS:
            raise ValueError(f"unknown image transform {transform!r}; allowed: {list(IMAGE_TRANSFORMS)}")
        self.root = Path(root)
        self.files = np.asarray(files, dtype=str)
        self.size = int(size)
        self.transform = transform
        self.workers = max(1, int(workers or available_cpus()))
        self.cached = len(self.files) * 3 * self.size ** 2 <= cache_bytes
        self._cache: np.ndarray | None = None  # (N, 3, size, size) uint8, allocated at the first read
        self._decoded: np.ndarray | None = None  # which images the cache holds
        self._pool: ProcessPoolExecutor | ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._reader: ThreadPoolExecutor | None = None  # one thread that runs whole reads ahead of the caller
        self._ahead: tuple[tuple[int, int], Future] | None = None  # the slice read ahead, and its read

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), 3, self.size, self.size)

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return (f"ImageFiles({len(self)} images under {self.root}, {self.size}x{self.size}, {self.transform}, "
                f"{self.workers} workers{', kept in memory' if self.cached else ''})")

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
        """The images at ``index`` (non-negative) as float32, decoded by the workers (or taken from the cache)."""
        return as_float(self.read_bytes(index))

    def read_bytes(self, index: np.ndarray) -> np.ndarray:
        """The images at ``index`` (non-negative) as uint8."""
        index = np.asarray(index, dtype=np.int64)
        if not self.cached:
            return self._decode(index)
        with self._lock:
            if self._cache is None:
                self._cache = np.empty(self.shape, dtype=np.uint8)
                self._decoded = np.zeros(len(self), dtype=bool)
        # the read-ahead thread and the caller may fill the same entries at once: with the same bytes
        missing = np.unique(index[~self._decoded[index]])
        if len(missing):
            self._cache[missing] = self._decode(missing)
            self._decoded[missing] = True
        return self._cache[index]

    def all_bytes(self) -> np.ndarray:
        """Every image as uint8: the cache itself, filled (a split kept in memory), else decoded now."""
        if not self.cached:
            return self._decode(np.arange(len(self)))
        self.read_bytes(np.arange(len(self)))
        return self._cache

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

    def close(self) -> None:
        """Stop the worker processes (they also stop when this object is garbage-collected or the program ends)."""
        for pool in (self._pool, self._reader):
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        self._pool = self._reader = self._ahead = None

    def __getstate__(self):
        # worker processes and threads stay with the process that made them
        return {**self.__dict__, "_pool": None, "_reader": None, "_ahead": None, "_lock": None}

    def __setstate__(self, state):
        self.__dict__.update(state, _lock=threading.Lock())

    def _decode(self, index: np.ndarray) -> np.ndarray:
        paths = [str(self.root / self.files[i]) for i in index]
        try:
            if self.workers == 1 or len(paths) <= 1:
                return _decode_files(paths, self.size, self.transform)
            tasks = np.array_split(np.arange(len(paths)), min(len(paths), self.workers * TASKS_PER_WORKER))
            parts = self._workers().map(_decode_files, [[paths[k] for k in task] for task in tasks],
                                        [self.size] * len(tasks), [self.transform] * len(tasks))
            return np.concatenate(list(parts))
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"image {err.filename} is gone: this dataset reads its images from their files (lazy: true); restore "
                f"the file, or rebuild the dataset (delete its .npz) from the folder as it is now") from None

    def _workers(self):
        """The decoding pool, started at the first read: forked processes where the system can fork (as a PyTorch
        DataLoader's workers are), threads elsewhere. Not spawned ones: a spawned worker re-runs the parent's main
        script, which for a Snakemake job is the job itself."""
        with self._lock:
            if self._pool is None:
                if "fork" not in multiprocessing.get_all_start_methods():
                    self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="spurcomp-decode")
                    return self._pool
                pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"),
                                           initializer=_die_with_parent)
                with warnings.catch_warnings():
                    # the forked children run only PIL and NumPy, never a lock or library the parent's threads
                    # (torch's, the read-ahead thread) may hold
                    warnings.filterwarnings("ignore", r"This process .*is multi-threaded", DeprecationWarning)
                    pool.submit(int).result()  # every worker is forked now, under this filter
                self._pool = pool
            return self._pool

    def _read_later(self, index: np.ndarray) -> Future:
        with self._lock:
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
        x = as_float(_decode_files([str(root / name) for name in files], size, transform))
    else:
        x = np.empty((0, 3, size, size), dtype=np.float32)
    return Split(x=x, y=np.asarray(y, dtype=np.int64), b=np.asarray(b, dtype=np.int64),
                 feature=np.broadcast_to(np.uint8(FEATURE_CODES["core"]), x.shape))

"""Process-level set-up shared by every step: device, threads, determinism, logging, provenance.

torch is imported inside the functions that need it: logging and provenance are used by jobs (figures,
tables, claims) that must start without it."""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import socket
import sys
from importlib import metadata
from pathlib import Path

logger = logging.getLogger("spurcomp")
DEVICES = ("auto", "cpu", "cuda")


class PlainError(Exception):
    """An error whose message names what is wrong and what to do: reported in one line, without a traceback."""


def resolve_device(name: str):
    """The ``torch.device`` for ``name``: ``auto`` picks CUDA where available, else the CPU."""
    import torch

    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; allowed: {list(DEVICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(name)


# glibc malloc's options (mallopt(3)): M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
# what keep_freed_memory sets: glibc's largest mmap threshold on 64-bit (32 MiB), a 64 MiB top pad, and no trim
# below 2 GiB, mallopt's largest (a job's peak stays its peak; it is not handed back and faulted in at every step)
ALLOCATOR_OPTIONS = {_M_MMAP_THRESHOLD: 32 * 2**20, _M_TOP_PAD: 64 * 2**20, _M_TRIM_THRESHOLD: 2**31 - 1}


def keep_freed_memory() -> bool:
    """Have glibc's allocator keep the memory a process frees, for the next tensor of that size: by default a
    freed block above its dynamic threshold (a batch's activations) goes back to the operating system and is
    faulted in, zeroed, again at the next step; that kernel time was a fifth of a Fig. 4 training run's CPU time
    on a 2-core x86 machine (benchmarks/allocator.py). Numbers are unchanged: only where memory comes from. False
    where the C library is not glibc (macOS, musl), which keep their own allocator."""
    import ctypes

    try:  # the process's own symbols: no search for the library (find_library runs ldconfig in a subprocess)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(option, value) == 1 for option, value in ALLOCATOR_OPTIONS.items())


def deterministic_kernels(warn_only: bool = False) -> None:
    """torch.use_deterministic_algorithms(True) without its import of torch._inductor (to set the compiler's own
    flag), which loads torch._dynamo: 1.8 s of an evaluate job's start-up on a 2-core x86 machine (cProfile).
    Nothing here compiles a model, so the kernels' flag is the one that counts; where the compiler is loaded
    already, or this torch has no such flag, the public call sets both."""
    import torch

    set_kernels_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_kernels_flag is None or "torch._inductor" in sys.modules:
        torch.use_deterministic_algorithms(True, warn_only=warn_only)
    else:
        set_kernels_flag(True, warn_only=warn_only)


def setup_torch(threads: int, device) -> None:
    """Deterministic kernels and a fixed thread count: the same config gives the same numbers; freed memory
    kept for reuse (:func:`keep_freed_memory`)."""
    import torch

    keep_freed_memory()
    torch.set_num_threads(max(1, int(threads)))
    deterministic_kernels(warn_only=device.type != "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False


# the smallest image side at which a CPU backward pass crashes channels-last (see images_last)
LAST_BACKWARD_CRASHES_FROM = 64


def images_last(device, input_shape: tuple[int, ...], precision: str = "fp32", training: bool = False) -> bool:
    """Whether a model of images (``input_shape`` C x H x W) and its inputs are held channels-last. On a CPU its
    convolutions and poolings then take 1.4-1.6x less time to train and 1.5-2.3x less to evaluate
    (benchmarks/channels_last.py; VGG11 and ResNet18 at 1/8 width), on CUDA bf16 convolutions gain; the numbers
    differ from the default layout's in float rounding only (logits within 1e-6 on the same weights).

    Training on a CPU keeps the default layout for images of 64 px or more on both sides: there PyTorch 2.14's CPU
    backward pass of a channels-last 1x1 stride-2 convolution (ResNet's shortcut) crashes the process
    (tests/test_runtime.py)."""
    if len(input_shape) != 3:
        return False
    if device.type == "cuda":
        return precision == "bf16"
    return device.type == "cpu" and not (training and min(input_shape[1:]) >= LAST_BACKWARD_CRASHES_FROM)


def precision_context(device, precision: str):
    """The context a forward pass runs in: nothing for fp32, bfloat16 autocast for bf16 (on the CPU too)."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    raise ValueError(f"unknown precision {precision!r}; allowed: ['fp32', 'bf16']")


def tf32_allowed(device) -> dict | None:
    """Whether PyTorch may use TF32 for float32 matrix products and convolutions on CUDA (None on the CPU): it
    changes fp32 numbers on Ampere and later GPUs, so run.json records it."""
    import torch

    if device.type != "cuda":
        return None
    return {"matmul": bool(torch.backends.cuda.matmul.allow_tf32), "cudnn": bool(torch.backends.cudnn.allow_tf32)}


def derived_seed(*parts: int | str) -> int:
    """A 63-bit seed derived from ``parts`` (e.g. run seed and epoch), independent across parts."""
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def config_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def package_versions() -> dict:
    names = ("spurcomp", "torch", "torchvision", "captum", "numpy", "pandas", "pyarrow", "snakemake")
    versions = {"python": sys.version.split()[0]}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@contextlib.contextmanager
def log_to(path: str | Path | None, level=logging.INFO):
    """Send the ``spurcomp`` logger (and warnings) to ``path`` (a job's log file), or stderr when None."""
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logging.captureWarnings(True)
    targets = [logger, logging.getLogger("py.warnings")]
    for target in targets:
        target.addHandler(handler)
    logger.setLevel(level)
    try:
        yield logger
    except PlainError as err:
        logger.error("%s", err)  # its message says what is wrong and what to do: no traceback
        raise
    except BaseException:
        logger.exception("step failed")
        raise
    finally:
        for target in targets:
            target.removeHandler(handler)
        handler.close()



def temporary_sibling(path: Path) -> Path:
    """A temporary name beside ``path``, unique to this process: two writers never share a half-written file."""
    path = Path(path)
    return path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp{path.suffix}")


def atomic_torch_save(obj, path: Path) -> None:
    """Write ``path`` whole or not at all: a kill or a full disk mid-write leaves the previous file intact."""
    import torch

    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "wb") as handle:  # a file object: the archive's inner name does not vary with tmp's name
            torch.save(obj, handle)
    except (OSError, RuntimeError) as err:
        # torch reports a full disk as "basic_ios::clear: iostream error"; say what and where
        tmp.unlink(missing_ok=True)
        free = shutil.disk_usage(path.parent).free / 2**20
        raise OSError(f"could not write {path} ({err}); {free:.0f} MiB free on its disk: free some space and run "
                      f"again (a run resumes from its last saved state)") from err
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    tmp = temporary_sibling(path)
    tmp.write_text(text)
    os.replace(tmp, path)


class Busy(PlainError, RuntimeError):
    """Another process holds the lock of what this one was about to write."""


@contextlib.contextmanager
def exclusive(lock_path: Path, what: str, wait: bool = False):
    """Hold an exclusive lock on ``lock_path`` (``fcntl.flock``) while writing ``what``. Another holder makes this
    raise :class:`Busy` at once, naming it (process, host, since when, command), or, with ``wait``, waits for it.
    The kernel drops a lock with its process, so a lock left by a killed process is taken over (and said so)."""
    import fcntl
    import time

    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            raise Busy(f"{what} is being written by another process ({_holder(handle.read())}); wait for it to "
                       f"finish or stop it (its lock: {lock_path})") from None
        handle.seek(0)
        previous = handle.read().strip()
        if previous and not wait:
            logger.warning("%s: taking over the lock left by a process that is gone (%s)", what, _holder(previous))
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": " ".join(sys.argv)[:300]}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()  # an empty lock file: nobody holds it, nothing to take over
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


class DamagedFile(PlainError, OSError):
    """A file that cannot be read: set aside beside itself (``NAME.damaged``) so that the next run rebuilds it."""


def set_aside(path: Path, why: str, remedy: str) -> DamagedFile:
    """Move an unreadable ``path`` to ``PATH.damaged`` (kept for inspection, out of the way of its rebuild) and
    return the error that names it, why and what to run."""
    path = Path(path)
    damaged = path.with_name(path.name + ".damaged")
    os.replace(path, damaged)
    logger.error("%s is unreadable (%s): moved to %s", path, why, damaged)
    return DamagedFile(f"{path} is unreadable ({why}); it was moved to {damaged.name} beside it; {remedy}")


def _holder(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"process {holder['pid']} on {holder['host']} since {holder['since']}: {holder['command']}"
    except (ValueError, KeyError, TypeError):
        return "holder not recorded"

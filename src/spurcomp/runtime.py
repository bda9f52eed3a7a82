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
import sys
from importlib import metadata
from pathlib import Path

logger = logging.getLogger("spurcomp")
DEVICES = ("auto", "cpu", "cuda")


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


def setup_torch(threads: int, device) -> None:
    """Deterministic kernels and a fixed thread count: the same config gives the same numbers."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False


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
    except BaseException:
        logger.exception("step failed")
        raise
    finally:
        for target in targets:
            target.removeHandler(handler)
        handler.close()



def atomic_torch_save(obj, path: Path) -> None:
    """Write ``path`` whole or not at all: a kill or a full disk mid-write leaves the previous file intact."""
    import torch

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
    except (OSError, RuntimeError) as err:
        # torch reports a full disk as "basic_ios::clear: iostream error"; say what and where
        tmp.unlink(missing_ok=True)
        free = shutil.disk_usage(path.parent).free / 2**20
        raise OSError(f"could not write {path} ({err}); {free:.0f} MiB free on its disk: free some space and run "
                      f"again (a run resumes from its last saved state)") from err
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

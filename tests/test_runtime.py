import pytest
import torch

from spurcomp.runtime import derived_seed, resolve_device


def test_device_selection():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ValueError, match=r"allowed: \['auto', 'cpu', 'cuda'\]"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")


def test_derived_seeds_are_stable_and_distinct():
    assert derived_seed("batch-order", 0, 1) == derived_seed("batch-order", 0, 1)
    assert len({derived_seed("batch-order", 0, e) for e in range(100)}) == 100
    assert 0 <= derived_seed("init", 3) < 2**63


def test_images_go_channels_last_on_a_cpu_except_to_train_at_64_px_where_pytorch_crashes():
    import subprocess
    import sys

    import torch

    from spurcomp.runtime import images_last

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert images_last(cpu, (3, 32, 32)) and images_last(cpu, (3, 32, 32), training=True)
    assert images_last(cpu, (3, 64, 32), training=True)  # MNIST-CIFAR
    assert images_last(cpu, (3, 64, 64)) and not images_last(cpu, (3, 64, 64), training=True)
    assert not images_last(cpu, (20,)) and not images_last(cuda, (3, 32, 32))
    assert images_last(cuda, (3, 32, 32), "bf16", training=True)
    # the layout images_last picks trains ResNet18 at 64 x 64 (channels-last, its backward pass kills the process)
    script = (
        "import torch; from spurcomp.models import build_model; from spurcomp.runtime import images_last\n"
        "layout = torch.channels_last if images_last(torch.device('cpu'), (3, 64, 64), training=True) "
        "else torch.contiguous_format\n"
        "m = build_model({'arch': 'resnet', 'depth': 'resnet18', 'width': 0.125}, (3, 64, 64), 10).to(memory_format=layout)\n"
        "x = torch.randn(4, 3, 64, 64).contiguous(memory_format=layout)\n"
        "torch.nn.functional.cross_entropy(m(x), torch.zeros(4, dtype=torch.long)).backward(); print('trained')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "trained" in done.stdout, done.stderr[-2000:]


def test_freed_memory_is_kept_where_the_c_library_is_glibc():
    """glibc accepts every option keep_freed_memory sets (mallopt returns 1 for each); elsewhere it says False
    and changes nothing. That it keeps numbers and saves time is benchmarks/allocator.py's table."""
    import platform
    import subprocess
    import sys

    probe = "from spurcomp.runtime import keep_freed_memory; print(keep_freed_memory())"
    kept = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.strip()
    assert kept == str(platform.libc_ver()[0] == "glibc")


def test_set_up_torch_is_deterministic_without_loading_the_compiler():
    """setup_torch asks for deterministic kernels (warnings only on CUDA, as torch.use_deterministic_algorithms
    would) without importing torch._inductor and torch._dynamo, which cost every job 1.8 s to start."""
    import subprocess
    import sys

    probe = ("import sys, torch; from spurcomp.runtime import setup_torch; setup_torch(1, torch.device('cpu')); "
             "print(torch.are_deterministic_algorithms_enabled(), "
             "torch.is_deterministic_algorithms_warn_only_enabled(), 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split()
    assert out == ["True", "False", "False"]

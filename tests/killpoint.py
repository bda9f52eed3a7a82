"""Run ``spurcomp ARGS...`` and SIGKILL the process at one chosen point of training (the resume test's kill
points), as a crash, a node failure or an out-of-memory kill would:

    python tests/killpoint.py POINT spurcomp-arguments...

POINT: mid-epoch (in epoch 3's fourth SGD step), state-write (half-way through writing epoch 2's state),
before-checkpoint (epoch 2 done, its checkpoint not yet written), before-state (epoch 2's checkpoint written, its
state not), after-state (epoch 2's state in place, epoch 3 not begun), outputs (history written, weights and
run.json not).
"""
import io
import os
import signal
import sys
from pathlib import Path

import torch

from spurcomp import cli
from spurcomp.train import engine


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    point, argv = sys.argv[1], sys.argv[2:]
    counts = {"step": 0, "state": 0}
    save, atomic_save, replace, step = torch.save, engine.atomic_torch_save, os.replace, torch.optim.SGD.step

    def counting_step(self, *args, **kwargs):
        counts["step"] += 1
        if point == "mid-epoch" and counts["step"] == 2 * STEPS_PER_EPOCH + 4:
            die()
        return step(self, *args, **kwargs)

    def torn_save(obj, target, *args, **kwargs):
        # the state is written to a temporary file beside state.pt (spurcomp.runtime.temporary_sibling), then renamed
        name = Path(getattr(target, "name", target)).name
        if point == "state-write" and name.startswith(".state.pt.") and counts["state"] == 2:
            buffer = io.BytesIO()
            save(obj, buffer)
            target.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            target.flush()
            die()
        return save(obj, target, *args, **kwargs)

    def watched_save(obj, path):
        path = Path(path)
        if path.name == "state.pt":
            counts["state"] += 1
            if point == "before-state" and counts["state"] == 2:
                die()
        if point == "before-checkpoint" and path.name == "epoch=00002.pt":
            die()
        if point == "outputs" and path.name == "weights.pt":
            die()
        return atomic_save(obj, path)

    def watched_replace(src, dst):
        replace(src, dst)
        if point == "after-state" and Path(dst).name == "state.pt" and counts["state"] == 2:
            die()

    torch.optim.SGD.step = counting_step
    torch.save = torn_save
    engine.atomic_torch_save = watched_save
    engine.os.replace = watched_replace
    return cli.main(argv)


STEPS_PER_EPOCH = int(os.environ.get("KILLPOINT_STEPS_PER_EPOCH", "10"))
POINTS = ("mid-epoch", "state-write", "before-checkpoint", "before-state", "after-state", "outputs")

if __name__ == "__main__":
    sys.exit(main())

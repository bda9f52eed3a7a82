"""A real single-node SLURM cluster for the cluster tests, started from Debian's packages.

The daemons run inside a private network namespace with its own loopback, so nothing listens outside it;
clients (sbatch, squeue, scancel, and Snakemake itself) are run in the same namespace with ``nsenter``. The
cluster has no accounting database, so Snakemake's SLURM plugin is told to poll job status with ``squeue``.
Everything started is stopped by process id, and files written outside the test's folder are restored.
Its only addresses are 127.0.0.1 and 127.0.0.2, both inside the namespace.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
PACKAGES = ("slurm-wlm", "munge")


class ClusterUnavailable(RuntimeError):
    """This machine cannot run the cluster (not root, no apt, no network namespaces)."""


def ensure_installed() -> None:
    if os.geteuid() != 0:
        raise ClusterUnavailable("the cluster test needs root (to install slurm-wlm and munge and start daemons)")
    if all(shutil.which(b) for b in ("slurmctld", "slurmd", "munged", "sbatch", "nsenter", "ip")):
        return
    if not shutil.which("apt-get"):
        raise ClusterUnavailable("slurm-wlm is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise ClusterUnavailable(f"{' '.join(command)} failed: {result.stderr[-500:]}")


class SlurmCluster:
    def __init__(self, workdir: Path, cpus: int = 2, memory_mb: int = 8000):
        self.workdir = Path(workdir)
        self.netns = f"spurcomp-slurm-{os.getpid()}"
        self.cpus, self.memory_mb = cpus, memory_mb
        self.processes: list[subprocess.Popen] = []
        self._saved_conf: bytes | None = None

    # -- clients -------------------------------------------------------------------------------------------
    @property
    def nsenter(self) -> list[str]:
        return ["nsenter", f"--net=/var/run/netns/{self.netns}", "--"]

    def run(self, *command, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run([*self.nsenter, *command], check=check, **kwargs)

    def popen(self, *command, **kwargs) -> subprocess.Popen:
        return subprocess.Popen([*self.nsenter, *command], **kwargs)

    def jobs(self) -> list[dict]:
        """Jobs in the queue: id, name, state."""
        out = self.run("squeue", "--noheader", "--format=%i|%j|%T|%k").stdout
        return [dict(zip(("id", "name", "state", "comment"), line.split("|"))) for line in out.splitlines() if line]

    # -- life cycle ----------------------------------------------------------------------------------------
    def start(self) -> "SlurmCluster":
        ensure_installed()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if subprocess.run(["ip", "netns", "add", self.netns], capture_output=True).returncode != 0:
            raise ClusterUnavailable("cannot create a network namespace (ip netns add failed)")
        in_ns = ["ip", "netns", "exec", self.netns]
        subprocess.run([*in_ns, "ip", "link", "set", "lo", "up"], check=True)
        # Slurm resolves addresses with AI_ADDRCONFIG, which finds nothing where the only IPv4 address is on
        # the loopback interface: a veth pair kept inside the namespace carries a second loopback-range address.
        for command in (["ip", "link", "add", "sc0", "type", "veth", "peer", "name", "sc1"],
                        ["ip", "addr", "add", "127.0.0.2/32", "dev", "sc0"],
                        ["ip", "link", "set", "sc0", "up"], ["ip", "link", "set", "sc1", "up"]):
            subprocess.run([*in_ns, *command], check=True)
        self._start_munge()
        self._write_conf()
        for daemon in (["slurmctld", "-D", "-i"], ["slurmd", "-D", "-N", "localhost"]):
            log = open(self.workdir / f"{daemon[0]}.out", "w")
            self.processes.append(self.popen(*daemon, stdout=log, stderr=subprocess.STDOUT))
        self._wait_until_idle()
        return self

    def _start_munge(self) -> None:
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True)
            shutil.chown(key, "munge", "munge")
            key.chmod(0o400)
        run_dir = Path("/run/munge")
        run_dir.mkdir(exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
            return  # a munged is already serving the default socket
        log = open(self.workdir / "munged.out", "w")
        self.processes.append(subprocess.Popen(
            ["runuser", "-u", "munge", "--", "munged", "--foreground", "--force"], stdout=log, stderr=subprocess.STDOUT))
        for _ in range(100):
            if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise ClusterUnavailable("munged did not start")

    def _write_conf(self) -> None:
        spool = self.workdir / "spool"
        (spool / "ctld").mkdir(parents=True, exist_ok=True)
        (spool / "d").mkdir(parents=True, exist_ok=True)
        if SLURM_CONF.exists():
            self._saved_conf = SLURM_CONF.read_bytes()
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(f"""\
ClusterName=spurcomp-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation={spool / 'ctld'}
SlurmdSpoolDir={spool / 'd'}
SlurmctldPidFile={self.workdir / 'slurmctld.pid'}
SlurmdPidFile={self.workdir / 'slurmd.pid'}
SlurmctldLogFile={self.workdir / 'slurmctld.log'}
SlurmdLogFile={self.workdir / 'slurmd.log'}
SlurmctldPort=6817
SlurmdPort=6818
KillWait=5
NodeName=localhost CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")

    def _wait_until_idle(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for proc in self.processes:
                if proc.poll() is not None:
                    raise RuntimeError(f"a SLURM daemon exited: {proc.args}; see {self.workdir}")
            out = self.run("sinfo", "--noheader", "--format=%T", check=False).stdout.strip()
            if out in ("idle", "mixed"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the SLURM node did not become idle (sinfo: {out!r}); see {self.workdir}")

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()
        # job processes were started by slurmd in the namespace; end any that outlived it
        pids = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True)
        if self._saved_conf is not None:
            SLURM_CONF.write_bytes(self._saved_conf)
        else:
            SLURM_CONF.unlink(missing_ok=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

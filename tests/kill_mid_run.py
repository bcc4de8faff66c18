"""Kill a training run with SIGKILL after its first checkpoint (for the resume tests; not a
test itself)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"
# The child sleeps after every optimizer step (numerics untouched) so the kill lands mid-run.
CHILD = """
import sys, time
from torch.optim.optimizer import register_optimizer_step_post_hook
register_optimizer_step_post_hook(lambda *args: time.sleep({pause}))
from vqvae.cli import main
sys.exit(main(sys.argv[1:]))
"""


def kill_after_first_checkpoint(argv: list[str], run: Path, pause: float = 0.2) -> None:
    """Run ``vqvae ARGV`` (which writes into ``run``) in a child process on one thread,
    sleeping ``pause`` s after each step, and SIGKILL it as soon as ``run/train_state.pt``
    exists (fails the test if it never does within 120 s or the child dies first)."""
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(pause=pause), *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "train_state.pt").exists():
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

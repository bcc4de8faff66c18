"""benchmarks/train_throughput.py --reference and benchmarks/gpu_check.sh (their interfaces,
at tiny sizes), and the training loop's compile setting."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vqvae.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import train_throughput  # noqa: E402


def test_reference_run_reports_the_ratio(capsys, one_thread):
    argv = ["--device", "cpu", "--reference", "--steps", "2", "--warmup", "1"]
    train_throughput.main([*argv, "--batch-size", "16", "--hidden", "8", "--repeats", "1"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["world_size"] == 1 and last["steps"] == 2 and last["batch_size"] == 16
    for key in ("images_per_s", "plain_images_per_s", "cpu_images_per_s", "plain_cpu_images_per_s"):
        assert last[key] > 0, key
    assert last["ratio"] == pytest.approx(last["images_per_s"] / last["plain_images_per_s"], 0.01)
    assert last["cpu_ratio"] == pytest.approx(
        last["cpu_images_per_s"] / last["plain_cpu_images_per_s"], 0.01
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_gpu_check_without_cuda_stops_with_one_line():
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True, env=env
    )
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "no CUDA device" in out.stderr


def test_compile_setting_is_a_checked_bool():
    assert TrainConfig.of(compile=True).schedule.compile is True
    assert TrainConfig.of().schedule.compile is False
    with pytest.raises(ValueError, match="compile"):
        TrainConfig.of(compile="yes")

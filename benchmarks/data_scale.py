"""Memory and speed of streamed training data as the dataset grows 50-fold.

    python benchmarks/data_scale.py                      # N = 1000 and 50000, 12 timed steps
    python benchmarks/data_scale.py --sizes 200 2000 --steps 5     # a quick look

Writes seeded synthetic folders of N 64x64 PNG photos-like images (smooth colour fields plus
noise, in subfolders of 1000; cached in ``--cache``, reused while complete), then trains the
default folder model (``vqvae train``'s folder recipe: 128 channels, 512 codes of dimension 64,
batch 128) for the same number of steps on each, streamed (``--data-loading stream``, default
``--workers``), and once in RAM (``--data-loading memory``) on the smallest. Each run is its
own process, so its peak memory is its own: ``peak_rss_mb`` is the training process's peak
resident set (``getrusage``), ``tree_uss_mb`` the peak of the memory private to it and its
loader workers together (USS, sampled from /proc every 0.2 s). Images/s counts the ``--steps``
after ``--warmup`` steps, step end to step end, with the time spent in evaluation and
checkpoints taken out (the same in every mode); per CPU second it divides by the training
process's CPU time over those steps plus its workers' share of theirs, which other jobs on the
machine change less. The runs (in RAM on the smallest N, streamed on each) alternate
``--repeats`` times; each figure keeps its best. Final JSON line: rss_ratio (peak RSS at the
largest N / at the smallest), speed_ratio (streamed / in-RAM images/s at the smallest N),
cpu_speed_ratio (the same per CPU second), uss_ratio and the raw figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402  (the charts only: no torch)

OUT = Path(__file__).resolve().parent / "out" / "data_scale"
PER_FOLDER = 1000
SIZE = 64


def write_folder(n: int, seed: int, cache: Path) -> Path:
    """N seeded 64x64 PNGs under ``cache/n{N}_seed{seed}`` (written once)."""
    from PIL import Image

    from vqvae.progress import Progress

    folder = cache / f"n{n}_seed{seed}"
    done = folder / ".complete"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(seed)
    bar = Progress(n, f"writing {n} PNGs", "img")
    for i in range(n):
        sub = folder / f"{i // PER_FOLDER:03d}"
        if i % PER_FOLDER == 0:
            sub.mkdir(parents=True)
        coarse = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((SIZE, SIZE), Image.BICUBIC)
        a = np.asarray(img, dtype=np.int16) + rng.integers(-12, 13, (SIZE, SIZE, 3))
        Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(sub / f"{i:06d}.png")
        bar.update()
    bar.close()
    done.write_text(f"{n} images, seed {seed}\n")
    return folder


def _private_kb(pid: int) -> int:
    """Pages only this process maps (USS): what its exit would free, whatever else runs."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        pass
    return total


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def measure(folder: str, mode: str, steps: int, warmup: int, workers: int | None) -> dict:
    """Train in this process and return its figures (run as a child of ``main``)."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    from vqvae.cli import main as cli
    from vqvae.train import loop

    peak = [0]
    stop = threading.Event()

    def sample() -> None:  # the tree's private memory: this process and its loader workers
        me = os.getpid()
        while not stop.wait(0.2):
            peak[0] = max(peak[0], _private_kb(me) + sum(_private_kb(c) for c in _children(me)))

    threading.Thread(target=sample, daemon=True).start()
    ends: list[tuple[float, float]] = []  # (wall, CPU) seconds at step ends, pauses taken out
    paused = [0.0, 0.0]

    def tick(*args) -> None:
        ends.append((time.perf_counter() - paused[0], time.process_time() - paused[1]))

    register_optimizer_step_post_hook(tick)
    for name in ("evaluate", "save"):  # not data loading: taken out of the step times
        original = getattr(loop.Loop, name)

        def timed(self, *args, _original=original, **kwargs):
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return _original(self, *args, **kwargs)
            finally:
                paused[0] += time.perf_counter() - started
                paused[1] += time.process_time() - cpu

        setattr(loop.Loop, name, timed)
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["train", "--dataset", folder, "--out", tmp, "--overwrite", "--device", "cpu"]
        argv += ["--max-steps", str(warmup + steps), "--epochs", "1000", "--eval-subset", "128"]
        argv += ["--checkpoint-every", "0", "--data-loading", mode, "--no-progress", "--quiet"]
        if workers is not None:
            argv += ["--workers", str(workers)]
        code = cli(argv)
    stop.set()
    if code != 0:
        raise SystemExit(code)
    batch = 128  # the folder recipe's
    seconds = ends[-1][0] - ends[warmup - 1][0]
    # CPU: this process over the timed steps, plus its loader workers' share (their whole
    # run's CPU time, all joined by now, times the timed fraction of the steps).
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = (workers.ru_utime + workers.ru_stime) * steps / (warmup + steps)
    cpu = ends[-1][1] - ends[warmup - 1][1] + workers_cpu
    return {
        "mode": mode,
        "images_per_s": steps * batch / seconds,
        "cpu_images_per_s": steps * batch / cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tree_uss_mb": peak[0] / 1024,
        "threads": torch.get_num_threads(),
    }


def run_child(folder: Path, mode: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", str(folder), mode, "--steps", str(args.steps)]
    cmd += ["--warmup", str(args.warmup)]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 50000])
    p.add_argument("--steps", type=int, default=12, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--repeats", type=int, default=2, help="runs of each measurement")
    p.add_argument("--workers", type=int, default=None, help="default: vqvae's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=OUT, help="where the folders are kept")
    p.add_argument("--child", nargs=2, metavar=("FOLDER", "MODE"), help=argparse.SUPPRESS)
    figures.add_arguments(p)
    args = p.parse_args()
    if args.plot_only:
        figures.plot_only("data_scale", args.plot_only)
        return
    if args.child:
        print(json.dumps(measure(*args.child, args.steps, args.warmup, args.workers)))
        return
    sizes = sorted(args.sizes)
    folders = {n: write_folder(n, args.seed, args.cache) for n in sizes}
    small, large = sizes[0], sizes[-1]
    best: dict[tuple[int, str], dict] = {}
    plan = [(small, "memory")] + [(n, "stream") for n in sizes]
    plan *= args.repeats  # interleaved: a change in the machine's load hits every mode
    for n, mode in plan:
        started = time.perf_counter()
        r = run_child(folders[n], mode, args)
        print(
            f"  N={n:>6} {mode:<6}: {r['images_per_s']:6.1f} img/s "
            f"({r['cpu_images_per_s']:.1f} per CPU s), peak RSS "
            f"{r['peak_rss_mb']:.0f} MB, with workers USS {r['tree_uss_mb']:.0f} MB "
            f"({time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        key = (n, mode)
        if key in best:  # the best of the repeats, figure by figure
            old = best[key]
            r = {
                **r,
                **{k: max(r[k], old[k]) for k in ("images_per_s", "cpu_images_per_s")},
                **{k: min(r[k], old[k]) for k in ("peak_rss_mb", "tree_uss_mb")},
            }
        best[key] = r
    ram, s_small, s_large = (
        best[(small, "memory")],
        best[(small, "stream")],
        best[(large, "stream")],
    )
    print("\n| N | loading | images/s | per CPU s | peak RSS (MB) | peak USS with workers (MB) |")
    print("|---|---|---:|---:|---:|---:|")
    for (n, mode), r in sorted(best.items(), key=lambda kv: (kv[0][0], kv[0][1] != "memory")):
        label = "in RAM" if mode == "memory" else "streamed"
        print(
            f"| {n} | {label} | {r['images_per_s']:.1f} | {r['cpu_images_per_s']:.1f} | "
            f"{r['peak_rss_mb']:.0f} | "
            f"{r['tree_uss_mb']:.0f} |"
        )
    result = {
        "sizes": sizes,
        "steps": args.steps,
        "batch_size": 128,
        "workers": args.workers if args.workers is not None else min(4, os.cpu_count() or 1),
        "rss_ratio": round(s_large["peak_rss_mb"] / s_small["peak_rss_mb"], 3),
        "uss_ratio": round(s_large["tree_uss_mb"] / s_small["tree_uss_mb"], 3),
        "speed_ratio": round(s_small["images_per_s"] / ram["images_per_s"], 3),
        "cpu_speed_ratio": round(s_small["cpu_images_per_s"] / ram["cpu_images_per_s"], 3),
        "in_ram_images_per_s": round(ram["images_per_s"], 1),
        "streamed_images_per_s": {str(small): round(s_small["images_per_s"], 1),
                                  str(large): round(s_large["images_per_s"], 1)},
        "peak_rss_mb": {str(small): round(s_small["peak_rss_mb"]),
                        str(large): round(s_large["peak_rss_mb"]),
                        f"{small}_in_ram": round(ram["peak_rss_mb"])},
    }  # fmt: skip
    print(f"figure: {figures.save('data_scale', result, args.results_dir)}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

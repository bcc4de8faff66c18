"""MNIST generation benchmark: VQ-VAE (7x7 codes, K=128, D=16) + prior within 20 CPU-minutes.

    python benchmarks/prior.py [--vqvae-minutes 6.5] [--prior-minutes 7.5] [--out RUN_DIR]
    python benchmarks/prior.py --skip-vqvae [--skip-prior] --out RUN_DIR   # evaluate a run

1. ``vqvae train`` the Keras example's rate (--downsample 4 --codebook-size 128 --code-dim 16,
   recipe flags given explicitly below), 2. ``vqvae train-prior`` (encodes the splits first),
3. ``vqvae eval-prior`` on the test split (unconditional: the "no label" token),
4. a small MNIST CNN (benchmarks/mnist_classifier.py) judges 100 class-conditional samples per
   class (class accuracy) and gives the Fréchet distance of its features: samples vs test set
   and reconstructions of test images vs test set,
5. the prior-coded codec on test images: real .vqz file bits (header included), exact round
   trips checked.

Prints a table and one final JSON line: {"bits_per_image", "class_accuracy", "fd_samples",
"fd_reconstructions", "file_bits_per_image"}.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402
from mnist_classifier import frechet_distance, predict, train_classifier  # noqa: E402

from vqvae import pretrained  # noqa: E402
from vqvae.cli import main as vqvae  # noqa: E402
from vqvae.codec import compress, decompress_indices, encode_indices, load  # noqa: E402
from vqvae.codec.container import parse  # noqa: E402
from vqvae.data import load_dataset  # noqa: E402
from vqvae.models import VQVAE  # noqa: E402
from vqvae.priors import load_prior, sample  # noqa: E402

# The VQ-VAE recipe, spelled out. --rate-weight: entropy-constrained code assignment. In 3-minute
# runs 0.03 cut the codes' unigram entropy from 6.6 to 3.7 bits at the same test PSNR (23.9 dB)
# and a 3-minute prior from ~150 to 98 bits per image; 0.06 gave 91 bits at -0.25 dB.
VQVAE_FLAGS = [
    "--downsample", "4", "--codebook-size", "128", "--code-dim", "16", "--rate-weight", "0.05",
    "--quantizer", "ema", "--hidden", "64", "--res-channels", "32", "--res-blocks", "2",
    "--batch-size", "64", "--lr", "2e-3", "--seed", "0", "--device", "cpu",
]  # fmt: skip


def step(name: str, started: float) -> None:
    print(f"[{(time.perf_counter() - started) / 60:5.1f} min] {name}", flush=True)


def call(argv: list[str]) -> str:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = vqvae(argv)
    output = buffer.getvalue()
    print("".join(f"    {line}\n" for line in output.splitlines()[-6:]), end="", flush=True)
    if code != 0:
        raise SystemExit(f"vqvae {' '.join(argv)} failed with exit code {code}")
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vqvae-minutes", type=float, default=6.5)
    parser.add_argument("--prior-minutes", type=float, default=7.5)
    parser.add_argument("--classifier-epochs", type=int, default=1)
    parser.add_argument("--samples-per-class", type=int, default=100)
    parser.add_argument("--codec-images", type=int, default=100)
    parser.add_argument(
        "--threads", type=int, default=1, help="1: robust on a shared machine (2 threads thrash)"
    )
    parser.add_argument("--out", default=None, help="keep the run dir here")
    parser.add_argument(
        "--model",
        default=None,
        metavar="NAME|RUN_DIR",
        help="evaluate this shipped model (e.g. mnist-prior) or finished run: no training",
    )
    parser.add_argument("--skip-vqvae", action="store_true", help="reuse the VQ-VAE in --out")
    parser.add_argument(
        "--skip-prior", action="store_true", help="reuse the prior in --out too (with --skip-vqvae)"
    )
    parser.add_argument(
        "--rate-prior-weight",
        type=float,
        default=0.0,
        help="> 0: after the VQ-VAE, a first prior (--first-prior-minutes), then the VQ-VAE "
        "fine-tuned with codes chosen under that prior's code lengths (vqvae train --rate-prior, "
        "--rate-minutes) into OUT/ctx, whose prior is the one evaluated",
    )
    parser.add_argument("--first-prior-minutes", type=float, default=2.5)
    parser.add_argument("--rate-minutes", type=float, default=5.0)
    parser.add_argument("--classifier-subset", type=int, default=None, help=argparse.SUPPRESS)
    figures.add_arguments(parser)
    args = parser.parse_args()
    if args.plot_only:
        figures.plot_only("prior", args.plot_only)
        return
    if args.skip_prior and not args.skip_vqvae:
        parser.error("--skip-prior needs --skip-vqvae")
    if args.model is not None:
        args.out, args.skip_vqvae, args.skip_prior = args.model, True, True
    torch.set_num_threads(args.threads)
    run = args.out or tempfile.mkdtemp(prefix="vqvae-prior-")
    if args.model is not None:
        run = str(pretrained.resolve(args.model))
    started = time.perf_counter()

    if not args.skip_vqvae:
        step("train the VQ-VAE", started)
        call(["train", "--out", run, "--epochs", "1000", "--max-minutes", str(args.vqvae_minutes),
              "--checkpoint-every", "0", "--no-progress", *VQVAE_FLAGS])  # fmt: skip
    if args.rate_prior_weight > 0 and not args.skip_vqvae:
        step("a first prior, the context model for the rate term", started)
        call(["train-prior", run, "--max-minutes", str(args.first_prior_minutes)])
        step("fine-tune the VQ-VAE under the prior's code lengths", started)
        ctx = str(Path(run) / "ctx")
        call(["train", "--out", ctx, "--init-from", run, "--rate-prior", run,
              "--rate-prior-weight", str(args.rate_prior_weight), "--epochs", "1000",
              "--max-minutes", str(args.rate_minutes), "--checkpoint-every", "0", "--no-progress",
              *VQVAE_FLAGS, "--rate-weight", "0", "--lr", "1e-3"])  # fmt: skip
        run = ctx
    vqvae_done = time.perf_counter()
    if not args.skip_prior:
        step("encode the splits and train the prior", started)
        call(["train-prior", run, "--max-minutes", str(args.prior_minutes)])
    prior_done = time.perf_counter()
    step("evaluate the prior", started)
    nll = json.loads(call(["eval-prior", run, "--json"]))

    step("train the classifier", started)
    train_set = load_dataset("mnist", "train")
    test_set = load_dataset("mnist", "test")
    if args.classifier_subset:  # smoke runs only
        train_set = train_set.subset(args.classifier_subset)
    classifier = train_classifier(train_set, epochs=args.classifier_epochs)
    test_x = test_set.batch(torch.arange(len(test_set)))
    test_pred, test_feat = predict(classifier, test_x)
    classifier_accuracy = float((test_pred == test_set.labels).float().mean())

    step("sample and reconstruct", started)
    model = VQVAE.from_pretrained(run)
    prior = load_prior(run)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # token-by-token sampling: one thread is fastest (cf. `vqvae sample`)
    t0 = time.perf_counter()
    sample(prior, 64, labels=3, generator=torch.Generator().manual_seed(0))
    seconds_64 = time.perf_counter() - t0
    labels = torch.arange(10).repeat_interleave(args.samples_per_class)
    codes = sample(prior, len(labels), labels=labels, generator=torch.Generator().manual_seed(1))
    torch.set_num_threads(threads)
    with torch.no_grad():
        samples = model.decode(codes).clamp(0, 1)
        n_rec = len(labels)
        recon = model(test_x[:n_rec]).x_hat.clamp(0, 1)  # codes chosen as in training
    sample_pred, sample_feat = predict(classifier, samples)
    recon_pred, recon_feat = predict(classifier, recon)
    class_accuracy = float((sample_pred == labels).float().mean())
    recon_accuracy = float((recon_pred == test_set.labels[:n_rec]).float().mean())
    fd_samples = frechet_distance(sample_feat, test_feat)
    fd_reconstructions = frechet_distance(recon_feat, test_feat)

    step("code test images with the prior", started)
    codec = load(run)
    assert codec.entropy_model.name == "prior", codec.entropy_model.name
    # A run trained under a rate prior: the exact sequential choice at its training weight.
    rd_lambda = model.assignment.weight if model.assignment is not None else None
    file_bits = payload_bits = 0
    uint8 = test_set.images[: args.codec_images]
    coded = []
    for x in uint8:
        blob = compress(codec, x, rd_lambda=rd_lambda)
        file_bits += 8 * len(blob)
        payload_bits += 8 * len(parse(blob)[1])
        _, decoded = decompress_indices(blob, codec)
        coded.append(encode_indices(codec, x, rd_lambda=rd_lambda))
        assert torch.equal(decoded, coded[-1]), "round trip failed"
    file_bits_per_image = file_bits / len(uint8)
    payload_bits_per_image = payload_bits / len(uint8)
    with torch.no_grad():
        coded_nll = float(prior.nll_bits(torch.stack(coded)).mean())
    total_minutes = (time.perf_counter() - started) / 60
    train_minutes = (prior_done - started) / 60

    log = Path(run) / "metrics.jsonl"  # a shipped model has none: evaluate it
    metrics = json.loads(
        log.read_text().splitlines()[-1] if log.is_file() else call(["eval", run, "--json"])
    )
    rows = [
        ("VQ-VAE test PSNR (dB)", metrics["psnr"]),
        ("VQ-VAE code usage / unigram bits", f"{metrics['usage']:.2f} / {metrics['bits_per_code']:.2f}"),
        ("VQ-VAE training minutes", (vqvae_done - started) / 60),
        ("prior training minutes (incl. encoding)", (prior_done - vqvae_done) / 60),
        ("prior bits per code (test)", nll["bits_per_code"]),
        ("prior bits per image (test)", nll["bits_per_image"]),
        ("prior bits per dim (test)", nll["bits_per_dim"]),
        ("classifier test accuracy", classifier_accuracy),
        ("class accuracy of conditional samples", class_accuracy),
        ("class accuracy of reconstructions", recon_accuracy),
        ("FD samples vs test", fd_samples),
        ("FD reconstructions vs test", fd_reconstructions),
        ("seconds for 64 samples (1 thread)", seconds_64),
        (f"prior NLL of the {len(uint8)} coded images (bits)", coded_nll),
        ("payload bits per image", payload_bits_per_image),
        (".vqz file bits per image (header incl.)", file_bits_per_image),
        ("minutes: VQ-VAE + prior training", train_minutes),
        ("minutes: whole benchmark", total_minutes),
    ]  # fmt: skip
    for name, value in rows:
        print(
            f"{name:<45} {value:>12.4g}"
            if not isinstance(value, str)
            else f"{name:<45} {value:>12}"
        )
    summary = {
        "bits_per_image": round(nll["bits_per_image"], 3),
        "class_accuracy": round(class_accuracy, 4),
        "fd_samples": round(fd_samples, 3),
        "fd_reconstructions": round(fd_reconstructions, 3),
        "file_bits_per_image": round(file_bits_per_image, 1),
    }
    print(f"figure: {figures.save('prior', summary, args.results_dir)}")
    print(json.dumps(summary))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

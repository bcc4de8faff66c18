"""Does fd_vqvae move the right way? fd_vqvae and ms_ssim of the shipped models'
reconstructions, of the same blurred (5x5 binomial, sigma about 1), and of blurred originals:

    OMP_NUM_THREADS=1 python recipes/fd_vqvae_check.py mnist   # MNIST test, the `mnist` model
    OMP_NUM_THREADS=1 python recipes/fd_vqvae_check.py photo   # Kodak (24), the `photo` model

(Kodak read from $VQVAE_DATA_DIR/kodak, default ../shared/data/kodak.) Prints one JSON line.
"""

import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vqvae import VQVAE
from vqvae.data import load_dataset
from vqvae.evaluation.image import FeatureScores
from vqvae.media import load_image


def blur(x):
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    k = (k[:, None] * k[None, :]).expand(x.shape[1], 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), k, groups=x.shape[1])


def score(pairs):
    out = {}
    for name in ("recon", "blurred recon", "blurred real", "real (sanity)"):
        s = FeatureScores()
        for x, x_hat in pairs:
            y = {
                "recon": x_hat,
                "blurred recon": blur(x_hat),
                "blurred real": blur(x),
                "real (sanity)": x,
            }[name]
            s.update(x, y)
        r = s.result()
        out[name] = {k: round(v, 4) for k, v in r.items()}
    return out


torch.set_grad_enabled(False)
which = sys.argv[1]
t = time.time()
if which == "mnist":
    model = VQVAE.from_pretrained("mnist")
    ds = load_dataset("mnist", "test")
    pairs = []
    for i in range(0, len(ds), 500):
        x = ds.batch(torch.arange(i, min(i + 500, len(ds))))
        pairs.append((x, model.reconstruct(x)))
else:
    model = VQVAE.from_pretrained("photo")
    pairs = []
    kodak = Path(os.environ.get("VQVAE_DATA_DIR", "../shared/data")) / "kodak"
    for p in sorted(kodak.glob("kodim*.png")):
        x = load_image(p, channels=3)[None].float() / 255
        pairs.append((x, model.reconstruct(x)))
print(json.dumps({which: score(pairs), "seconds": round(time.time() - t)}))

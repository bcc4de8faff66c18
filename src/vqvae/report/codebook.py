"""The codebook section: how often each code is used (per stage of a residual model), the
dead codes, and a 2-D projection (PCA) of the code vectors."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..progress import Progress
from . import page, svg

MAX_BARS = 512  # more codes than this are drawn as bins of codes of similar use
MAX_POINTS = 2048  # a projection shows at most this many codes (the most used)


@torch.no_grad()
def code_counts(model, batches: Iterable[torch.Tensor], total: int | None = None) -> torch.Tensor:
    """How often each code of each stage is chosen over ``batches`` of inputs: (S, K) int64."""
    s, k = model.num_stages, model.quantizer.codebook_size
    counts = torch.zeros(s, k, dtype=torch.long)
    device = next(model.parameters()).device
    with Progress(total, "counting codes", "batch") as bar:
        for x in batches:
            indices = model.encode(x.to(device)).cpu()
            stages = indices[:, None] if s == 1 else indices  # (B, S, *positions)
            for i in range(s):
                ids = stages[:, i].flatten()
                counts[i] += torch.bincount(ids[ids >= 0], minlength=k)[:k]
            bar.update()
    return counts


@torch.no_grad()
def code_vectors(model, stage: int) -> torch.Tensor | None:
    """The K code vectors of one stage as the decoder sees them (``quantizer.embed`` of each
    id alone): (K, D); None for a quantizer whose codebooks cannot be looked up one at a time
    (grouped codes, which decode only together)."""
    s, k = model.num_stages, model.quantizer.codebook_size
    if s > 1 and not model.supports_stage_prefix:
        return None
    device = next(model.parameters()).device
    ids = torch.arange(k, device=device)
    tail = (1,) * (model.signal.code_dims - 1)  # (K,) or (K, 1) positions
    if s == 1:
        indices = ids.view(1, k, *tail)
    else:
        indices = torch.full((1, s, k, *tail), -1, dtype=torch.long, device=device)
        indices[:, stage] = ids.view(k, *tail)
    z = model.quantizer.embed(indices)  # (1, D, K, ...)
    return z.reshape(z.shape[1], k).t().float().cpu()


def pca_2d(vectors: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Project (N, D) onto its first two principal components: ((N, 2), the fraction of the
    variance they hold)."""
    centred = vectors.double() - vectors.double().mean(0, keepdim=True)
    if centred.shape[1] < 2:
        centred = torch.cat([centred, torch.zeros_like(centred)], 1)
    _, sv, vh = torch.linalg.svd(centred, full_matrices=False)
    var = sv.pow(2)
    share = float(var[:2].sum() / var.sum()) if float(var.sum()) > 0 else 1.0
    return (centred @ vh[:2].t()).float(), share


def usage_chart(counts: torch.Tensor, title: str) -> str:
    """Bars of the codes' shares of use, most used first; dead codes marked red at the end."""
    ordered = counts.sort(descending=True).values.double()
    share = ordered / max(float(ordered.sum()), 1.0)
    x_label = "codes, most used first"
    if len(share) > MAX_BARS:  # bins of codes of similar use (their mean share)
        bins = torch.tensor_split(share, MAX_BARS)
        share = torch.stack([b.mean() for b in bins])
        x_label += f" (bins of ~{len(ordered) // MAX_BARS})"
    return svg.bar_chart([float(v) for v in share], title, x_label, "share of uses", 520, 220)


def codebook_section(model, counts: torch.Tensor, what: str) -> page.Section:
    """Usage histogram, dead codes and code projection of every stage.

    Args:
        counts: (S, K) from ``code_counts``.
        what: the data the counts come from, for the text.
    """
    s, k = counts.shape
    dead = (counts == 0).sum(1)
    intro = (
        f"{s} stage{'s' if s > 1 else ''} of {k} codes; uses counted on {what}. Dead codes "
        "(never chosen there) are red: bars at the end of the histogram, rings in the projection."
    )
    rows = []
    for i in range(s):
        c = counts[i].double()
        p = c / max(float(c.sum()), 1.0)
        entropy = float(-(p[p > 0] * p[p > 0].log2()).sum())
        rows.append([i + 1, int(c.sum()), k - int(dead[i]), int(dead[i]), entropy, 2**entropy])
    parts = [
        page.paragraph(intro),
        page.table(rows, ["stage", "uses", "codes used", "dead", "bits/code", "perplexity"]),
    ]
    for i in range(s):
        name = f"stage {i + 1}: " if s > 1 else ""
        figures = [page.figure(usage_chart(counts[i], f"{name}code usage"))]
        vectors = code_vectors(model, i)
        if vectors is not None:
            weights = counts[i].double()
            keep = torch.arange(k)
            if k > MAX_POINTS:
                keep = weights.argsort(descending=True)[:MAX_POINTS]
            xy, share = pca_2d(vectors[keep])
            chart = svg.scatter_chart(
                [tuple(map(float, p)) for p in xy],
                f"{name}code vectors (PCA)",
                "PC 1",
                "PC 2",
                weights=[float(w) for w in weights[keep]],
            )
            caption = (
                f"the first two principal components of the {len(keep)} code vectors hold "
                f"{100 * share:.0f}% of their variance; darker = used more"
            )
            figures.append(page.figure(chart, caption))
        parts.append(page.row(figures))
    return page.Section("Codebook", "".join(parts))

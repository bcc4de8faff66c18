"""Gradient estimators through the non-differentiable nearest-code step, and the entropy penalty.

Both estimators return a tensor whose *value* is ``codes`` and whose gradient reaches ``z``:

    straight_through: z_q = sg(e) + (z - sg(z))           d z_q / d z = I   (van den Oord 2017)
    rotate_to:        z_q = sg(e) + (q~ - sg(q~)),  q~ = sg(lambda R) z     (Fifty et al. 2024)

Writing the value as ``sg(e) + (t - sg(t))`` makes the forward pass return the code exactly, so
``quantizer.embed(indices)`` is bit-identical to ``z_q`` (the ``t - sg(t)`` term is exactly 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-6


def straight_through(z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Value ``codes``, gradient the identity to ``z``. Both (N, D)."""
    return codes.detach() + (z - z.detach())


def rotate_to(z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """The rotation trick (Fifty et al. 2024, "Restructuring Vector Quantization with the
    Rotation Trick", eq. 4 / Alg. 1): value ``codes``, gradient through a frozen rotation.

    With e = z (encoder output), q = code, hats for unit vectors and r = (e^ + q^) / ||e^ + q^||,
        R = I - 2 r r^T + 2 q^ e^T   (the rotation taking e^ to q^ in their common plane)
        q~ = sg(||q|| / ||e|| * R) e
    so dq~/de = (||q||/||e||) R: the decoder's gradient is rotated and scaled, not copied,
    and vectors inside one Voronoi cell receive different updates. R is applied without
    forming it: R e = e - 2 r (r.e) + 2 q^ (e^.e).

    Args:
        z: (N, D) encoder vectors (gradient flows here).
        codes: (N, D) their selected codes (treated as constants).

    Returns:
        (N, D), equal to ``codes`` in value.
    """
    e = z.detach()
    q = codes.detach()
    e_norm = e.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    q_norm = q.norm(dim=-1, keepdim=True)
    e_hat = e / e_norm
    q_hat = q / q_norm.clamp_min(_EPS)
    r = F.normalize(e_hat + q_hat, dim=-1, eps=_EPS)
    scale = q_norm / e_norm
    rotated = (
        z - 2 * r * (r * z).sum(-1, keepdim=True) + 2 * q_hat * (e_hat * z).sum(-1, keepdim=True)
    )
    rotated = scale * rotated
    return q + (rotated - rotated.detach())


def entropy_penalty(
    vectors: torch.Tensor, codebook: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Codebook-diversity regulariser on soft assignments p_i = softmax(-||z_i - e_k||^2 / T).

    penalty = mean_i H(p_i) - H(mean_i p_i): low when each vector is confidently assigned
    (first term) while the batch as a whole spreads over many codes (second term), as in the
    entropy loss of MaskGIT / MAGVIT-v2's LFQ. Minimising it fights codebook collapse.

    Args:
        vectors: (N, d) lookup-space vectors. codebook: (K, d). temperature: T > 0.

    Returns:
        Scalar penalty (nats). Materialises an (N, K) matrix: mind the memory for large K.
    """
    sq = (
        vectors.pow(2).sum(1, keepdim=True)
        - 2 * vectors @ codebook.t()
        + codebook.pow(2).sum(1)[None, :]
    )
    logp = torch.log_softmax(-sq / temperature, dim=1)  # (N, K)
    p = logp.exp()
    per_sample = -(p * logp).sum(1).mean()
    mean_p = p.mean(0)
    batch = -(mean_p * torch.log(mean_p.clamp_min(1e-12))).sum()
    return per_sample - batch

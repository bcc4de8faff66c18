"""A small causal transformer over raster-ordered code maps (nanoGPT style).

The VQ-VAE's code map (H', W') is read in raster order; a start token (a class label or
"no label") comes first, and position t predicts code t from the start token and codes < t::

    tokens  [start, c_0, c_1, ..., c_{N-2}]          (B, N)   N = h * w
      -> token embedding + position embedding of the code being predicted
      -> n_layer x (LayerNorm -> causal self-attention, LayerNorm -> MLP)
      -> LayerNorm -> linear head
    logits  p(c_0 | start), p(c_1 | start, c_0), ...  (B, N, K)

Positions are learned, either as row + column embeddings ("2d") or one per raster slot of
the largest map ("1d"); a smaller map (h <= height, w <= width) uses the slots of its own
top-left block. Sampling and the codec run it one token at a time with a key/value cache.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import PriorConfig


class KVCache:
    """Keys and values of the tokens seen so far, one (k, v) pair per layer."""

    def __init__(self, n_layer: int) -> None:
        self.layers: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * n_layer

    @property
    def length(self) -> int:
        first = self.layers[0]
        return 0 if first is None else first[0].shape[2]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, t, c = x.shape  # (B, T, C)
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (y.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for y in (q, k, v))
        if past is not None:  # (B, nh, P, hs) from earlier tokens
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        p = k.shape[2] - t
        dropout = self.dropout if self.training else 0.0
        if p == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:  # new token i may see every past token and new tokens <= i
            mask = torch.ones(t, p + t, dtype=torch.bool, device=x.device).tril(diagonal=p)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return self.resid_dropout(self.c_proj(y)), (k, v)


class Block(nn.Module):
    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
            nn.Dropout(config.dropout),
        )

    def forward(self, x, past=None):
        a, present = self.attn(self.ln_1(x), past)
        x = x + a
        return x + self.mlp(self.ln_2(x)), present


class TransformerPrior(nn.Module):
    """Autoregressive prior p(indices | label) over code maps in raster order.

    Token ids: codes are 0..K-1, class labels K..K+C-1, and K+C is the "no label" start token.

    Args:
        config: sizes of the model and of the largest code map it models.
    """

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        self.config = config
        k, c = config.codebook_size, config.n_embd
        self.tok_emb = nn.Embedding(k + config.num_classes + 1, c)
        if config.positions == "2d":
            self.row_emb = nn.Embedding(config.height, c)
            self.col_emb = nn.Embedding(config.width, c)
        else:
            self.pos_emb = nn.Embedding(config.height * config.width, c)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(c)
        self.head = nn.Linear(c, k)
        self.apply(self._init_weights)
        for name, param in self.named_parameters():  # GPT-2: scale residual projections
            if name.endswith("c_proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    def check_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Validate a code map size (h, w) against the largest the prior models."""
        h, w = int(shape[0]), int(shape[1])
        if not (1 <= h <= self.config.height and 1 <= w <= self.config.width):
            raise ValueError(
                f"the prior models code maps up to {self.config.height}x{self.config.width}, "
                f"got {h}x{w}"
            )
        return h, w

    def start_tokens(self, batch: int, labels: torch.Tensor | int | None = None) -> torch.Tensor:
        """The first token of each sequence (B, 1): the label's token, or "no label".

        ``labels`` is None (no label), an int for the whole batch, or (B,) int64 where a
        negative entry means "no label".
        """
        k, c = self.config.codebook_size, self.config.num_classes
        device = self.head.weight.device
        none = torch.full((batch, 1), k + c, dtype=torch.long, device=device)
        if labels is None:
            return none
        labels = torch.as_tensor(labels, dtype=torch.long, device=device).expand(batch)
        if c == 0 and bool((labels >= 0).any()):
            raise ValueError("this prior was trained without class labels")
        if bool((labels >= c).any()):
            raise ValueError(f"labels must lie in [0, {c}), got {labels.max().item()}")
        return torch.where(labels[:, None] >= 0, labels[:, None] + k, none)

    def _positions(self, start: int, length: int, shape: tuple[int, int]) -> torch.Tensor:
        h, w = shape
        t = torch.arange(start, start + length, device=self.head.weight.device)
        row, col = t // w, t % w
        if self.config.positions == "2d":
            return self.row_emb(row) + self.col_emb(col)  # (T, C)
        return self.pos_emb(row * self.config.width + col)

    def forward_tokens(
        self,
        tokens: torch.Tensor,
        start: int,
        shape: tuple[int, int],
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Logits for the codes at raster positions start..start+T-1.

        Args:
            tokens: (B, T) int64; tokens[:, i] is the token *before* position start + i
                (the start token for position 0, else the code at position start + i - 1).
            start: raster position of the first prediction; must equal ``cache.length``.
            shape: (h, w) of the code map.
            cache: keys/values of earlier tokens, extended in place; None for a full pass.

        Returns:
            logits (B, T, K), float32.
        """
        b, t = tokens.shape
        if cache is not None and cache.length != start:
            raise ValueError(f"cache holds {cache.length} tokens, expected {start}")
        if start + t > shape[0] * shape[1]:
            raise ValueError(f"{start + t} positions do not fit a {shape[0]}x{shape[1]} map")
        x = self.drop(self.tok_emb(tokens) + self._positions(start, t, shape))  # (B, T, C)
        for i, block in enumerate(self.blocks):
            past = cache.layers[i] if cache is not None else None
            x, present = block(x, past)
            if cache is not None:
                cache.layers[i] = present
        return self.head(self.ln_f(x)).float()

    def forward(
        self, indices: torch.Tensor, labels: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """Teacher-forced logits of every code.

        Args:
            indices: code ids (B, h, w) int64.
            labels: None, an int, or (B,) class ids (negative: no label).

        Returns:
            logits (B, h, w, K): logits[:, i, j] is p(code at (i, j) | label, earlier codes).
        """
        if indices.dim() != 3:
            raise ValueError(f"indices must have shape (B, h, w), got {tuple(indices.shape)}")
        b, h, w = indices.shape
        shape = self.check_shape((h, w))
        flat = indices.reshape(b, h * w)
        tokens = torch.cat([self.start_tokens(b, labels), flat[:, :-1]], dim=1)  # (B, N)
        return self.forward_tokens(tokens, 0, shape).view(b, h, w, -1)

    def nll_bits(
        self, indices: torch.Tensor, labels: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """-log2 p(indices | label) per map, (B,) float32 bits."""
        logits = self(indices, labels)
        nats = F.cross_entropy(logits.flatten(0, 2), indices.flatten(), reduction="none").view(
            indices.shape[0], -1
        )
        return nats.sum(1) / math.log(2)

    def new_cache(self) -> KVCache:
        return KVCache(self.config.n_layer)

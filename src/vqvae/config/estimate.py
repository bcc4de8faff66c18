"""Parameter estimates per architecture, from a model config's sizes alone (nothing is
allocated): ``VQVAEConfig`` refuses a config whose model would be too big before it is built."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import VQVAEConfig

DECODER_FIELDS = ("decoder_hidden_channels", "decoder_res_channels", "decoder_res_blocks")
SHARED_FIELDS = ("hidden_channels", "res_channels", "num_res_blocks")  # the encoder's, in order


def estimate_parameters(config: VQVAEConfig) -> int:
    """Parameters + buffers of the model ``config`` builds: an estimate from the sizes alone
    (within about 20%: the quantizers' buffers differ), computed without allocating anything."""
    q = config.quantizer
    stages = q.options.get("num_stages", 1) if q.kind == "rvq" else 1
    stages = stages if isinstance(stages, int) else 1
    quantizer = stages * (2 * q.codebook_size * q.code_dim + 4 * q.codebook_size)
    if config.modality == "audio":
        return _estimate_audio(config) + quantizer
    c, d, f = config.in_channels, q.code_dim, config.downsample_factor
    hidden, res, blocks = (getattr(config, name) for name in SHARED_FIELDS)
    dec_hidden, dec_res, dec_blocks = (
        getattr(config, name) if getattr(config, name) is not None else getattr(config, shared)
        for name, shared in zip(DECODER_FIELDS, SHARED_FIELDS, strict=True)
    )
    if config.arch == "mlp":
        h, w = config.image_size
        pixels, codes = c * h * w, d * (h // f) * (w // f)

        def mlp(hidden: int, n_in: int, n_out: int) -> int:  # in -> hidden -> hidden -> out
            return (n_in + 1) * hidden + (hidden + 1) * hidden + (hidden + 1) * n_out

        return mlp(4 * hidden, pixels, codes) + mlp(4 * dec_hidden, codes, pixels) + quantizer

    n = int(math.log2(f))

    def widths(hidden: int) -> list[int]:  # as models.encoders._stage_widths
        return [hidden // 2 if (i == 0 and n > 1) else hidden for i in range(n)]

    def trunk(hidden: int, res: int, blocks: int) -> int:  # residual stack
        return blocks * ((9 * hidden + 1) * res + (res + 1) * hidden)

    encoder, width = 0, c
    for out in widths(hidden):  # strided 4x4 convs
        encoder, width = encoder + (16 * width + 1) * out, out
    encoder += (9 * width + 1) * hidden + trunk(hidden, res, blocks) + (hidden + 1) * d
    decoder, width = (9 * d + 1) * dec_hidden + trunk(dec_hidden, dec_res, dec_blocks), dec_hidden
    for out in [*widths(dec_hidden)[::-1][1:], c] if n else []:  # transposed 4x4 convs
        decoder, width = decoder + (16 * width + 1) * out, out
    if not n:
        decoder += (9 * dec_hidden + 1) * c
    return encoder + decoder + quantizer


def istft_frames(hop: int) -> tuple[int, int]:
    """(frame hop, FFT size) of the "istft" audio decoder for a code hop: two frames a code
    when the hop is even (one otherwise), a window of four frame hops."""
    frame_hop = hop // 2 if hop % 2 == 0 else hop
    return frame_hop, 4 * frame_hop


def _estimate_audio(config: VQVAEConfig) -> int:
    """Encoder + decoder parameters of an audio model (as ``models.audio`` builds them)."""
    d = config.quantizer.code_dim

    def side(hidden: int, blocks: int) -> int:
        width, total = hidden, 7 * hidden  # the 7-tap conv at the sample rate
        for stride in config.strides:
            half = max(width // 2, 1)
            total += blocks * (7 * width * half + half * width + 2 * width)  # residual units
            total += 2 * stride * width * 2 * width + 2 * width  # the strided conv
            width *= 2
        return total + 3 * width * d + d

    def istft(hidden: int, blocks: int) -> int:  # models.audio.ISTFTDecoder
        width, hop = hidden << len(config.strides), math.prod(config.strides)
        frame_hop, n_fft = istft_frames(hop)
        upsample = 2 * (hop // frame_hop) * width * width + width if hop != frame_hop else 0
        block = 7 * width + 6 * width * width + 14 * width
        head = (width + 1) * (n_fft + 2)
        return 7 * d * width + width + upsample + max(blocks, 1) * block + 4 * width + head

    dec_hidden = config.decoder_hidden_channels or config.hidden_channels
    dec_blocks = config.decoder_res_blocks
    dec_blocks = config.num_res_blocks if dec_blocks is None else dec_blocks
    decoder = istft if config.audio_decoder == "istft" else side
    return side(config.hidden_channels, config.num_res_blocks) + decoder(dec_hidden, dec_blocks)

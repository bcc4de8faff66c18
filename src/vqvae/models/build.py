"""Building a VQ-VAE's parts from its config: the signal, encoder, decoder and quantizer."""

from __future__ import annotations

from torch import nn

from ..config import VQVAEConfig
from ..quantizers import Quantizer, build_quantizer
from .audio_nets import AudioEncoder, build_audio_decoder, init_weights
from .image_nets import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from .signal import AudioSignal, ImageSignal, Signal


def build_signal(config: VQVAEConfig) -> Signal:
    """The signal object of ``config.modality``."""
    return AudioSignal(config) if config.modality == "audio" else ImageSignal(config)


def build_encoder_decoder(config: VQVAEConfig) -> tuple[nn.Module, nn.Module]:
    """The encoder and the decoder of ``config`` (the decoder with its own sizes, if set)."""
    if config.modality == "audio":
        return AudioEncoder(config), build_audio_decoder(config.decoder_config())
    if config.arch == "mlp":
        return MLPEncoder(config), MLPDecoder(config.decoder_config())
    return ConvEncoder(config), ConvDecoder(config.decoder_config())


def build_parts(config: VQVAEConfig) -> tuple[Signal, nn.Module, nn.Module, Quantizer]:
    """(signal, encoder, decoder, quantizer) of ``config``, initialised.

    The parts are made in this order (encoder, decoder, quantizer, then the audio init) so
    that a seeded model gets the same weights as every earlier version.
    """
    encoder, decoder = build_encoder_decoder(config)
    quantizer = build_quantizer(config.quantizer)
    if config.modality == "audio":
        init_weights(encoder, decoder)
    return build_signal(config), encoder, decoder, quantizer

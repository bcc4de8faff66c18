"""The prior as the codec's entropy model: exact round trips, thread independence, real bits."""

from pathlib import Path

import numpy as np
import pytest
import torch

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig
from vqvae.cli import main
from vqvae.codec import (
    FormatError,
    check_consistency,
    compress,
    decompress,
    decompress_indices,
    information_bits,
    load,
    read_header,
)
from vqvae.codec.container import parse
from vqvae.data import load_image
from vqvae.data.codes import encode_dataset, load_codes
from vqvae.data.datasets import ImageDataset
from vqvae.priors import PriorConfig, load_prior
from vqvae.priors.entropy import PriorEntropyModel
from vqvae.train.prior import PriorTrainConfig, train_prior

DIGITS = sorted(str(p) for p in (Path(__file__).parents[2] / "examples" / "digits").glob("*.png"))
K = 16


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny VQ-VAE run dir with a briefly trained prior over the digits' codes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("prior_codec") / "run"
    config = VQVAEConfig(
        hidden_channels=16,
        res_channels=8,
        num_res_blocks=1,
        quantizer=QuantizerConfig(codebook_size=K, code_dim=4, kmeans_init=False),
    )
    model = VQVAE(config).eval()
    model.save_pretrained(run, extra={"train": {"dataset": "mnist"}})
    images = torch.stack([load_image(p) for p in DIGITS])  # (8, 1, 28, 28) uint8
    encode_dataset(model, ImageDataset(images, None, "digits"), run / "codes", "train")
    codes = load_codes(run / "codes", "train")
    prior_config = PriorConfig(codebook_size=K, n_layer=2, n_head=2, n_embd=32)
    schedule = PriorTrainConfig(epochs=20, batch_size=8, warmup_steps=1)
    train_prior(prior_config, schedule, codes, None, run, log=lambda _: None)
    torch.set_num_threads(threads)
    return run


def _fresh(run) -> PriorEntropyModel:
    return PriorEntropyModel(load_prior(run))


def test_prior_is_the_default_entropy_model(run):
    codec = load(run)
    assert codec.entropy_model.name == "prior"
    assert isinstance(codec.entropy_model, PriorEntropyModel)


def test_tables_are_consistent_on_real_maps(run):
    codec = load(run)
    for path in DIGITS[:3]:
        indices = codec.model.encode(load_image(path)[None].float() / 255)[0]
        # raises on any differing table; a fresh instance decodes, as a real decoder would
        check_consistency(codec.entropy_model, indices, _fresh(run))


def test_round_trip_exact_and_thread_independent(run):
    codec = load(run)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        blobs = [compress(codec, path) for path in DIGITS]
        torch.set_num_threads(1)
        fresh = load(run)  # a new process would rebuild everything from the run dir
        for path, blob in zip(DIGITS, blobs, strict=True):
            assert read_header(blob).entropy_name == "prior"
            _, decoded = decompress_indices(blob, fresh)
            expected = codec.model.encode(load_image(path)[None].float() / 255)[0]
            assert torch.equal(decoded, expected)
    finally:
        torch.set_num_threads(threads)


def test_file_bits_match_the_prior_nll(run):
    codec = load(run)
    prior = codec.entropy_model.prior
    nll = info = payload_bits = 0.0
    for path in DIGITS:
        indices = codec.model.encode(load_image(path)[None].float() / 255)[0]
        nll += float(prior.nll_bits(indices[None]).detach().double())
        info += information_bits(indices, codec.entropy_model)
        payload_bits += 8 * len(parse(compress(codec, path))[1])
    # integer tables (16-bit, floor of 1 per code) cost well under 1 % over the float NLL
    assert abs(info - nll) <= 0.01 * nll
    # the range coder adds at most its final 32-bit words per file (the "plus the header")
    assert info <= payload_bits <= info + 64 * len(DIGITS)


def test_cli_entropy_model_choice(run, tmp_path, capsys):
    out = tmp_path / "a.vqz"
    assert main(["compress", str(run), DIGITS[0], "-o", str(out)]) == 0
    assert read_header(out.read_bytes()).entropy_name == "prior"
    assert main(["decompress", str(out), "--model", str(run), "-o", str(tmp_path / "a.png")]) == 0
    out2 = tmp_path / "b.vqz"
    assert (
        main(["compress", str(run), DIGITS[0], "--entropy-model", "uniform", "-o", str(out2)]) == 0
    )
    assert read_header(out2.read_bytes()).entropy_name == "uniform"
    capsys.readouterr()
    assert (
        main(["compress", str(run), DIGITS[0], "--entropy-model", "static", "-o", str(out2)]) == 2
    )
    assert capsys.readouterr().err.startswith("vqvae: error:")


def test_prior_file_without_its_run_names_the_run_to_pass(run, tmp_path, capsys):
    vqz, png = tmp_path / "a.vqz", tmp_path / "a.png"
    assert main(["compress", str(run), DIGITS[0], "-o", str(vqz)]) == 0
    capsys.readouterr()
    assert main(["decompress", str(vqz), "-o", str(png)]) == 2  # the packaged model has no prior
    err = capsys.readouterr().err
    assert err.startswith("vqvae: error:") and err.count("\n") == 1, err
    assert "no entropy model 'prior'" in err and "--model RUN_DIR" in err, err
    assert "train-prior" not in err  # a prior for the packaged model is not the fix
    assert not png.exists()
    with pytest.raises(FormatError, match="--model RUN_DIR"):  # the same in Python
        decompress(vqz.read_bytes(), load())


def test_maps_larger_than_the_prior_are_coded_in_tiles(run, tmp_path):
    from PIL import Image

    codec = load(run)
    digits = [load_image(p)[0].numpy() for p in DIGITS[:4]]
    mosaic = np.block([[digits[0], digits[1]], [digits[2], digits[3]]])  # 56x56: 14x14 codes
    odd = np.pad(mosaic, ((0, 12), (0, 4)))  # 68x60 -> 17x15 codes: partial edge tiles
    for array in (mosaic, odd):
        path = tmp_path / f"big{array.shape[0]}.png"
        Image.fromarray(array).save(path)
        indices = codec.model.encode(torch.from_numpy(array)[None, None].float() / 255)[0]
        check_consistency(codec.entropy_model, indices, _fresh(run))
        check_consistency(codec.entropy_model, indices)  # one instance, steps reused
        _, decoded = decompress_indices(compress(codec, path), load(run))
        assert torch.equal(decoded, indices)
    # each 7x7 tile of the mosaic costs what the digit alone costs (up to the encoder's
    # receptive field across tile borders, which is zero padding vs a neighbour's black border)
    prior = codec.entropy_model.prior
    tile_bits = sum(
        float(
            prior.nll_bits(
                codec.model.encode(torch.from_numpy(d)[None, None].float() / 255)
            ).detach()
        )
        for d in digits
    )
    mosaic_map = codec.model.encode(torch.from_numpy(mosaic)[None, None].float() / 255)[0]
    assert information_bits(mosaic_map, codec.entropy_model) == pytest.approx(tile_bits, rel=0.2)


def test_tiles_of_one_shape_are_decoded_together(run):
    model = _fresh(run)
    blocks = model.schedule((17, 15))  # tiles 7x7 (4), 7x1 (2), 3x7 (2), 3x1 (1)
    assert [len(b) for b in blocks] == [4] * 49 + [2] * 7 + [2] * 21 + [1] * 3
    assert blocks[0].tolist() == [0, 7, 7 * 15, 7 * 15 + 7]  # position 0 of each full tile
    assert blocks[1].tolist() == [1, 8, 7 * 15 + 1, 7 * 15 + 8]
    assert sorted(np.concatenate(blocks).tolist()) == list(range(17 * 15))


def test_cached_steps_are_reused_only_for_the_same_earlier_codes(run):
    codec = load(run)
    maps = [codec.model.encode(load_image(p)[None].float() / 255)[0] for p in DIGITS[:3]]
    reference = [information_bits(m, _fresh(run)) for m in maps]
    shared = _fresh(run)  # one instance codes all maps, in both orders
    assert [information_bits(m, shared) for m in maps] == reference
    assert [information_bits(m, shared) for m in maps[::-1]] == reference[::-1]


def test_rd_choice_with_the_prior_round_trips_on_a_fresh_decoder(run, tmp_path):
    from PIL import Image

    codec = load(run)
    digits = [load_image(p)[0].numpy().T.copy() for p in DIGITS[:4]]  # unlike the training maps
    path = tmp_path / "mosaic.png"
    Image.fromarray(np.block([[digits[0], digits[1]], [digits[2], digits[3]]])).save(path)
    bits = []
    for lam in (None, 1e9):  # a huge lambda: every code is its table's most probable one
        _, decoded = decompress_indices(compress(codec, path, rd_lambda=lam), load(run))
        bits.append(information_bits(decoded, _fresh(run)))
    assert bits[1] <= bits[0]
    model = _fresh(run)
    for block in model.schedule(tuple(decoded.shape)):  # greedy: the argmax given earlier codes
        tables = model.frequencies(decoded, block)
        assert decoded.flatten()[block].tolist() == tables.argmax(1).tolist()

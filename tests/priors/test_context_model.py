"""The fast context model: its groups, causality, exact coding, training, and the CLI."""

from pathlib import Path

import numpy as np
import pytest
import torch

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig
from vqvae.cli import main
from vqvae.codec import (
    check_consistency,
    compress,
    decompress_indices,
    encode_indices,
    load,
    read_header,
)
from vqvae.entropy import StaticEntropyModel
from vqvae.errors import CheckpointError, VQVAEError
from vqvae.priors.context import (
    ContextConfig,
    ContextModel,
    group_map,
    load_context,
    save_context,
)
from vqvae.priors.context_entropy import ContextEntropyModel
from vqvae.train.context import ContextTrainConfig, train_context, unigram_bits_per_code

K = 16
DIGITS = sorted(str(p) for p in (Path(__file__).parents[2] / "examples" / "digits").glob("*.png"))


def _model(seed: int = 0, levels: int = 1) -> ContextModel:
    torch.manual_seed(seed)
    config = ContextConfig(codebook_size=K, embed_dim=4, channels=8, layers=2, levels=levels)
    return ContextModel(config).eval()


def test_group_map_by_hand():
    assert group_map(2, 2).tolist() == [[0, 2], [3, 1]]
    assert group_map(4, 5, levels=2).tolist() == [
        [0, 5, 2, 5, 0],
        [6, 4, 6, 4, 6],
        [3, 5, 1, 5, 3],
        [6, 4, 6, 4, 6],
    ]


def test_one_level_config_keeps_its_old_dict():
    old = {"codebook_size": K, "embed_dim": 4, "channels": 8, "layers": 2}
    assert ContextConfig.from_dict(old).to_dict() == old  # the coding fingerprint's input
    two = ContextConfig.from_dict({**old, "levels": 2})
    assert two.num_groups == 7 and two.to_dict() == {**old, "levels": 2}
    with pytest.raises(ValueError, match="levels"):
        ContextConfig(codebook_size=K, levels=0)


@pytest.mark.parametrize("levels", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (4, 4), (7, 5), (9, 12)])
def test_groups_tile_every_block_and_the_schedule_covers_the_map_once(shape, levels):
    groups = group_map(*shape, levels)
    assert groups[0, 0] == 0
    side = 2**levels
    if shape[0] >= side and shape[1] >= side:
        count = 3 * levels + 1
        assert sorted(set(groups[:side, :side].reshape(-1).tolist())) == list(range(count))
    blocks = ContextEntropyModel(_model(levels=levels)).schedule(shape)
    together = np.concatenate(blocks)
    assert sorted(together.tolist()) == list(range(shape[0] * shape[1]))
    for block in blocks:  # one group a block, in group order
        assert len(set(groups.view(-1)[block].tolist())) == 1
    assert [int(groups.view(-1)[b[0]]) for b in blocks] == sorted(
        int(groups.view(-1)[b[0]]) for b in blocks
    )


@pytest.mark.parametrize(
    ("levels", "group"), [(1, g) for g in range(4)] + [(2, g) for g in range(7)]
)
def test_a_group_reads_only_the_groups_before_it(levels, group):
    model = _model(levels=levels)
    gen = torch.Generator().manual_seed(1)
    codes = torch.randint(K, (2, 6, 7), generator=gen)
    other = codes.clone()
    groups = group_map(6, 7, levels)
    later = groups >= group
    other[:, later] = torch.randint(K, (2, int(later.sum())), generator=gen)
    with torch.no_grad():
        assert torch.equal(model(codes, group), model(other, group))
        if group > 0:  # and the earlier ones do matter
            changed = codes.clone()
            changed[:, groups < group] = (changed[:, groups < group] + 1) % K
            assert not torch.equal(model(codes, group), model(changed, group))


@pytest.mark.parametrize("levels", [1, 2])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (6, 7), (9, 4)])
def test_tables_are_the_same_block_by_block_as_in_one_call(shape, levels):
    codes = torch.randint(K, shape, generator=torch.Generator().manual_seed(2))
    ours, again = (
        ContextEntropyModel(_model(levels=levels)),
        ContextEntropyModel(_model(levels=levels)),
    )
    check_consistency(ours, codes, again)


@pytest.mark.parametrize("levels", [1, 2])
def test_nll_bits_is_the_sum_over_groups_of_the_cross_entropy(levels):
    model = _model(levels=levels)
    codes = torch.randint(K, (3, 5, 6), generator=torch.Generator().manual_seed(3))
    entropy = ContextEntropyModel(model)
    for m in range(3):
        probs = entropy.probabilities(codes[m], np.arange(30))
        expected = -np.log2(probs[torch.arange(30), codes[m].view(-1)].numpy()).sum()
        with torch.no_grad():
            bits = float(model.nll_bits(codes[m : m + 1]))
        assert bits == pytest.approx(expected, rel=1e-5)


def test_training_learns_structure_the_unigram_cannot_see(tmp_path):
    """Maps of 2x2 blocks of one code each: groups 1-3 repeat group 0 (crops keep parity
    only half the time, so each group still has a neighbour of its block)."""
    gen = np.random.default_rng(0)
    maps = [
        np.kron(gen.integers(0, K, (8, 8)), np.ones((2, 2), dtype=np.int64)).astype(np.uint16)
        for _ in range(64)
    ]
    torch.set_num_threads(1)
    config = ContextConfig(codebook_size=K, embed_dim=8, channels=16, layers=2)
    schedule = ContextTrainConfig(max_steps=300, batch_size=16, crop=8, lr=1e-2, warmup_steps=10)
    run = _tiny_run_dir(tmp_path)
    result = train_context(config, schedule, maps[:48], maps[48:], run, log=lambda _: None)
    static = unigram_bits_per_code(maps[:48], maps[48:], K)
    assert static > 3.9  # uniform codes: log2(16) bits
    assert result["bits_per_code"] < 0.5 * static  # three in four codes are predictable
    assert load_context(run).config == config


def _tiny_run_dir(base: Path) -> Path:
    run = base / "run"
    torch.manual_seed(0)
    config = VQVAEConfig(
        hidden_channels=16,
        res_channels=8,
        num_res_blocks=1,
        quantizer=QuantizerConfig(codebook_size=K, code_dim=4, kmeans_init=False),
    )
    VQVAE(config).eval().save_pretrained(run, extra={"train": {"dataset": "mnist"}})
    return run


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny digit run dir with a static table and an untrained context model."""
    run = _tiny_run_dir(tmp_path_factory.mktemp("context"))
    StaticEntropyModel(np.ones(K, dtype=np.int64)).save(run)
    save_context(_model(), run)
    return run


def test_the_codec_prefers_the_context_model_and_decodes_exactly(run):
    codec = load(run)
    assert codec.entropy_model.name == "context"
    for path in DIGITS[:3]:
        data = compress(codec, path)
        assert read_header(data).entropy_name == "context"
        chosen = encode_indices(codec, path)
        assert torch.equal(decompress_indices(data, load(run))[1], chosen)  # a fresh model
        rd = compress(codec, path, rd_lambda=0.5)  # the RD choice in the groups' order
        again = decompress_indices(rd, load(run))[1]
        assert torch.equal(again, encode_indices(codec, path, rd_lambda=0.5))


def test_a_context_model_for_other_weights_is_refused(run, tmp_path):
    torch.manual_seed(5)
    other = VQVAE(load(run).model.config).eval()
    other.save_pretrained(tmp_path / "other", extra={"train": {"dataset": "mnist"}})
    other = tmp_path / "other"
    (other / "context").mkdir()
    for name in ("config.json", "model.safetensors"):
        (other / "context" / name).write_bytes((run / "context" / name).read_bytes())
    with pytest.raises(CheckpointError, match="other VQ-VAE weights"):
        load_context(other)


def test_train_context_cli_on_a_folder_then_compress_uses_it(tmp_path, capsys):
    run = _tiny_run_dir(tmp_path)
    argv = ["train-context", str(run), "--images", str(Path(DIGITS[0]).parent)]
    argv += ["--max-steps", "3", "--channels", "8", "--layers", "1", "--embed-dim", "4"]
    assert main([*argv, "--levels", "2", "--json", "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert '"bits_per_code"' in out
    assert load_context(run).config.levels == 2
    assert main(["compress", "--model", str(run), DIGITS[0], "-o", str(tmp_path / "d.vqz")]) == 0
    assert read_header((tmp_path / "d.vqz").read_bytes()).entropy_name == "context"
    assert main(["decompress", "--model", str(run), str(tmp_path / "d.vqz"), "-o",
                 str(tmp_path / "d.png")]) == 0  # fmt: skip


def test_train_context_refuses_what_is_not_a_run_dir(tmp_path, capsys):
    assert main(["train-context", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vqvae: error:") and len(err.splitlines()) == 1


@pytest.mark.parametrize("levels", ["0", "5", "x"])
def test_train_context_refuses_bad_levels(tmp_path, capsys, levels):
    assert main(["train-context", str(_tiny_run_dir(tmp_path)), "--levels", levels]) == 2
    err = capsys.readouterr().err.strip()
    assert "--levels" in err and len(err.splitlines()) == 1


def test_too_small_maps_for_the_levels_are_a_clear_error(tmp_path):
    maps = [np.zeros((3, 3), dtype=np.uint16)] * 4
    config = ContextConfig(codebook_size=K, embed_dim=4, channels=8, layers=1, levels=2)
    with pytest.raises(VQVAEError, match="at least 4 codes a side"):
        train_context(config, ContextTrainConfig(max_steps=1), maps, maps, _tiny_run_dir(tmp_path))


def test_training_continues_from_the_model_it_is_given(tmp_path):
    """With a vanishing learning rate the continued model is the one given, and the steps add."""
    maps = [np.random.default_rng(i).integers(0, K, (8, 8)).astype(np.uint16) for i in range(4)]
    init = _model(seed=3).train()
    before = {k: v.clone() for k, v in init.state_dict().items()}
    schedule = ContextTrainConfig(max_steps=2, batch_size=2, crop=8, lr=1e-12, warmup_steps=1)
    run = _tiny_run_dir(tmp_path)
    result = train_context(
        init.config, schedule, maps, maps, run, log=lambda _: None, init=init, init_steps=7
    )
    assert result["steps"] == 2 and result["total_steps"] == 9
    after = load_context(run).state_dict()
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, rtol=0, atol=1e-9)
    with pytest.raises(VQVAEError, match="other sizes"):
        bigger = ContextConfig(codebook_size=K, embed_dim=4, channels=16, layers=2)
        train_context(bigger, schedule, maps, maps, run, log=lambda _: None, init=init)


def test_train_context_cli_continues_a_context_model(tmp_path, capsys):
    run = _tiny_run_dir(tmp_path)
    folder = str(Path(DIGITS[0]).parent)
    first = ["train-context", str(run), "--images", folder, "--max-steps", "3", "--channels", "8"]
    assert main([*first, "--layers", "1", "--embed-dim", "4", "--levels", "2", "--quiet"]) == 0
    again = ["train-context", str(run), "--images", folder, "--max-steps", "2", "--quiet"]
    assert main([*again, "--init-from", str(run), "--json"]) == 0  # the sizes come with it
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert '"total_steps": 5' in out
    assert load_context(run).config == ContextConfig(K, embed_dim=4, channels=8, layers=1, levels=2)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--channels", "16"], "sizes"),  # not the source's sizes
        (["--init-from", "nothing-here"], "not a run directory"),
        (["--init-from", "OTHER"], "other VQ-VAE weights"),
        (["--init-from", "BARE"], "no context model"),
    ],
)
def test_train_context_init_from_errors_are_one_line(run, tmp_path, capsys, extra, message):
    target = _tiny_run_dir(tmp_path)  # the same weights as `run` (seed 0)
    torch.manual_seed(5)
    VQVAE(load(run).model.config).eval().save_pretrained(tmp_path / "other")
    names = {"OTHER": str(tmp_path / "other"), "BARE": str(target)}
    extra = [names.get(a, a) for a in extra]
    if "--init-from" not in extra:
        extra += ["--init-from", str(run)]
    argv = ["train-context", str(target), "--images", str(Path(DIGITS[0]).parent), *extra]
    assert main([*argv, "--max-steps", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1

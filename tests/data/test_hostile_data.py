"""Careless and hostile data cannot hang or blow up a reader (#37): non-regular files and huge
shard members are skipped with a warning, in RAM as when streamed; warnings name files."""

from __future__ import annotations

import io
import os
import tarfile

import numpy as np
import pytest
from PIL import Image

from vqvae.data import streamed
from vqvae.data.folder import load_folder
from vqvae.data.streamed import MAX_MEMBER_BYTES, decode_image, list_files, open_streamed


def _png(seed: int, size: int = 16) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def folder_with_fifo(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(_png(i))
    os.mkfifo(folder / "stuck.png")  # reading it would block forever
    os.symlink(tmp_path / "gone.png", folder / "dangling.png")
    return folder


def test_a_fifo_in_a_streamed_folder_is_skipped_with_a_warning(folder_with_fifo):
    warnings: list[str] = []
    files = list_files(folder_with_fifo, warnings.append)
    assert [f.decode() for f in files] == ["0.png", "1.png", "2.png"]
    assert sorted(warnings) == [
        f"warning: skipped {name}: {streamed.NOT_REGULAR}" for name in ("dangling.png", "stuck.png")
    ]
    data = open_streamed(str(folder_with_fifo), folder_with_fifo, warn=warnings.append)
    assert len(data) == 3 and data.batch(np.arange(3)).shape == (3, 3, 16, 16)


def test_a_fifo_is_never_opened_by_the_decoder(folder_with_fifo):
    from vqvae.errors import DataError

    with pytest.raises(DataError, match="not a regular file"):
        decode_image(folder_with_fifo / "stuck.png", 3)


def test_in_ram_loading_skips_what_streaming_skips(folder_with_fifo):
    (folder_with_fifo / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    warnings: list[str] = []
    images = load_folder(folder_with_fifo, warn=warnings.append)
    assert images.shape == (3, 3, 16, 16)
    broken = [w for w in warnings if "broken.png" in w]
    assert len(broken) == 1 and broken[0].startswith("warning: skipped broken.png: not a readable")
    assert any(w.startswith("warning: skipped stuck.png: not a regular file") for w in warnings)


def test_a_huge_shard_member_is_skipped_unread(tmp_path, monkeypatch):
    pytest.importorskip("webdataset")
    monkeypatch.setattr(streamed, "MAX_MEMBER_BYTES", 4096)
    shard = tmp_path / "shard-000.tar"
    with tarfile.open(shard, "w") as tar:
        for name, data in (("a.png", _png(0)), ("b.png", _png(1, 256)), ("c.png", _png(2))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    reads = []
    real_extract = tarfile.TarFile.extractfile

    def extract(self, member):
        reads.append(member.name)
        return real_extract(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", extract)
    warnings: list[str] = []
    data = open_streamed(str(shard), None, warn=warnings.append)
    x = data.batch(np.arange(3))
    assert x.shape == (2, 3, 16, 16)
    assert "b.png" not in reads  # never read into memory
    assert len(warnings) == 1 and "b.png" in warnings[0] and "over the" in warnings[0]
    assert MAX_MEMBER_BYTES == 256 << 20


def test_a_size_warning_names_the_member_not_a_buffer(tmp_path, monkeypatch):
    """Pillow's own limit path once printed <_io.BytesIO object at ...> as the file name."""
    from vqvae.errors import DataError

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 16)  # 16x16 = 256 > 2 * 16: Pillow refuses
    with pytest.raises(DataError) as err:
        decode_image(_png(0), 3, max_pixels=20)
    assert "BytesIO" not in str(err.value) and "over the limit" in str(err.value)

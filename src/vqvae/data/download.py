"""Fetch MNIST, Fashion-MNIST and CIFAR-10 from their official URLs into a local cache.

Every file is streamed to a temporary file beside its destination, checked against the
published md5 and only then renamed into place, so an interrupted download never leaves a
file that looks complete. The CIFAR-10 archive is unpacked with path checks.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from vqvae.errors import DataError

_CHUNK = 1 << 20
_TIMEOUT_S = 60


@dataclass(frozen=True)
class Source:
    """Where a dataset's files come from.

    Attributes:
        base_url: prefix joined with each file name.
        files: ``(file name, md5)`` pairs.
        extract: for archives, the folder the archive unpacks to (``None``: keep files as is).
    """

    base_url: str
    files: tuple[tuple[str, str], ...]
    extract: str | None = None


SOURCES: dict[str, Source] = {
    "mnist": Source(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        (
            ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
    ),
    "fashion-mnist": Source(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        (
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
    ),
    "cifar10": Source(
        "https://www.cs.toronto.edu/~kriz/",
        (("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        extract="cifar-10-batches-py",
    ),
}


def default_cache_dir() -> Path:
    """The download cache: ``$VQVAE_CACHE`` if set, else ``~/.cache/vqvae``."""
    env = os.environ.get("VQVAE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vqvae"


def md5sum(path: str | Path) -> str:
    """Hex md5 of a file, read in chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def download(name: str, cache_dir: str | Path | None = None) -> Path:
    """Download a dataset (if not already cached) and return its folder.

    Args:
        name: ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"``.
        cache_dir: parent folder of the per-dataset folders; default ``default_cache_dir()``.

    Returns:
        ``cache_dir / name``, holding the IDX ``.gz`` files or ``cifar-10-batches-py/``.

    Raises:
        DataError: unknown name, the download failed (offline, HTTP error), or a checksum
            mismatch.
    """
    if name not in SOURCES:
        raise DataError(f"cannot download {name!r}: known datasets are {', '.join(SOURCES)}")
    source = SOURCES[name]
    root = Path(cache_dir if cache_dir is not None else default_cache_dir()).expanduser() / name
    if source.extract is not None and (root / source.extract).is_dir():
        return root
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the download folder {root}: {e}") from e
    for file_name, md5 in source.files:
        dest = root / file_name
        if dest.is_file() and md5sum(dest) == md5:
            continue
        _fetch(name, source.base_url + file_name, dest, md5)
        if source.extract is not None:
            _extract(dest, root, source.extract)
            dest.unlink()
    return root


def _fetch(name: str, url: str, dest: Path, md5: str) -> None:
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    h = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, open(tmp, "xb") as out:
            while chunk := response.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != md5:
            raise DataError(
                f"checksum mismatch for {url}: md5 {h.hexdigest()}, expected {md5} "
                "(corrupt or changed download; nothing was saved)"
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        # HTTPError's str has the status code; URLError's reason is the underlying error.
        http_error = isinstance(e, urllib.error.HTTPError)
        reason = e if http_error else getattr(e, "reason", None) or e
        raise DataError(
            f"download of {name} from {url} failed ({reason}); pass --data-dir pointing at "
            "local files instead"
        ) from e
    finally:
        tmp.unlink(missing_ok=True)


def _extract(archive: Path, root: Path, folder: str) -> None:
    staging = root / f".extract-{secrets.token_hex(4)}"
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                parts = PurePosixPath(m.name).parts
                if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
                    raise DataError(f"refusing to extract unsafe member {m.name!r} of {archive}")
            # The "data" filter (Python >= 3.10.12 / 3.11.4) repeats these checks in tarfile.
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(staging, members=members, **kwargs)
        if not (staging / folder).is_dir():
            raise DataError(f"{archive} does not contain {folder}/")
        os.replace(staging / folder, root / folder)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"cannot extract {archive}: {e}") from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)

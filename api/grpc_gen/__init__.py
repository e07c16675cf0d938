"""Python stubs of ``api/proto`` (the gRPC API), generated at build time.

``pip install -e .`` and every wheel build generate them (``setup.py`` runs
``api.grpc_gen.build`` before ``build_py``); they are not in git. After editing a
``.proto``, or in a tree that was never installed, regenerate them with::

    python -m api.grpc_gen.build

``from api.grpc_gen import recoup_pb2`` then works; before, it fails with an
ImportError that names that command, not with a bare ModuleNotFoundError.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
# Where the .proto files are in a source tree (and in a wheel: they ship as data).
PROTO_ROOT = HERE.parent / "proto"
# Written by the build: the SHA-256 of each .proto the stubs were generated from.
DIGESTS = HERE / "proto.sha256"
GENERATED = ("recoup_pb2", "recoup_pb2_grpc")
REGENERATE = "python -m api.grpc_gen.build"


class StubsMissingError(ImportError):
    """The generated modules are missing or older than their .proto."""


def proto_digests(proto_root: Path = PROTO_ROOT) -> dict[str, str]:
    """``{"recoup/v1/recoup.proto": sha256}`` of every .proto under ``proto_root``."""
    return {
        path.relative_to(proto_root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(proto_root.rglob("*.proto"))
    }


def read_digests(path: Path = DIGESTS) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if digest and name:
            found[name] = digest
    return found


def check() -> None:
    """Raise ``StubsMissingError`` unless the stubs exist and match the .proto files."""
    missing = [name for name in GENERATED if not (HERE / f"{name}.py").is_file()]
    if missing:
        raise StubsMissingError(
            f"the gRPC stubs ({', '.join(missing)}) have not been generated in {HERE}: "
            f"run `{REGENERATE}` (or reinstall: `pip install -e .`)"
        )
    # Only where both sides are there (a source tree); a wheel ships no digests.
    if DIGESTS.is_file() and PROTO_ROOT.is_dir():
        current = proto_digests()
        if current and read_digests() != current:
            raise StubsMissingError(
                f"the gRPC stubs in {HERE} are older than the .proto files in {PROTO_ROOT}: "
                f"run `{REGENERATE}`"
            )


def __getattr__(name: str) -> ModuleType:
    # Reached for ``from api.grpc_gen import recoup_pb2`` before the submodule is
    # imported: check first, so that a missing or stale stub says what to run.
    if name in GENERATED:
        check()
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

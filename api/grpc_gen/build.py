"""Generate the gRPC stubs of ``api/proto`` into ``api/grpc_gen``.

Run by ``setup.py`` at build time (``pip install .``, ``pip install -e .``, wheel
builds) and by hand with ``python -m api.grpc_gen.build``. Needs only the standard
library and grpcio-tools, because at build time it runs in pip's isolated build
environment (``[build-system].requires``), where the project is not installed;
setup.py loads this file by its path for the same reason.

For each ``api/proto/<path>/<name>.proto`` it writes, next to this file:

- ``<name>_pb2.py`` and ``<name>_pb2.pyi``: the messages (protoc's own typed stubs);
- ``<name>_pb2_grpc.py``: the client stub and servicer base (grpcio-tools), with its
  import of ``<name>_pb2`` rewritten to ``api.grpc_gen.<name>_pb2``;
- ``<name>_pb2_grpc.pyi``: types for that module, written here from the descriptor,
  for grpc.aio (the stubs that mypy-protobuf would make, without that dependency);
- ``proto.sha256``: the digest of each .proto, so a stale stub is noticed on import.

Files whose content did not change are left alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.protobuf import descriptor_pb2

HERE = Path(__file__).resolve().parent
PACKAGE = "api.grpc_gen"

_KINDS = {
    (False, False): "Unary",
    (False, True): "UnaryStream",
    (True, False): "StreamUnary",
    (True, True): "StreamStream",
}


def generate(root: Path | None = None, *, verbose: bool = False) -> list[Path]:
    """Generate the stubs of ``<root>/api/proto`` into ``<root>/api/grpc_gen``.

    ``root`` is the project directory (default: the one this file is in). Returns
    the files written (unchanged ones are not).
    """
    try:
        from google.protobuf import descriptor_pb2
        from grpc_tools import protoc
    except ImportError as exc:
        raise RuntimeError(
            f"generating the gRPC stubs needs grpcio-tools ({exc}): "
            "pip install grpcio-tools (or the dev extra: pip install -e '.[dev]')"
        ) from exc

    project = (root or HERE.parent.parent).resolve()
    proto_root = project / "api" / "proto"
    out = project / "api" / "grpc_gen"
    protos = sorted(p.relative_to(proto_root).as_posix() for p in proto_root.rglob("*.proto"))
    if not protos:
        raise RuntimeError(f"no .proto file under {proto_root}")
    stems = [Path(p).stem for p in protos]
    if len(set(stems)) != len(stems):
        raise RuntimeError(f"two .proto files have the same name: {protos}")

    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="recoup-protoc-") as tmp:
        descriptor_set = Path(tmp) / "descriptors.pb"
        args = [
            "grpc_tools.protoc",
            f"--proto_path={proto_root}",
            f"--proto_path={well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--descriptor_set_out={descriptor_set}",
            "--include_imports",
            *protos,
        ]
        code = protoc.main(args)
        if code != 0:
            raise RuntimeError(f"protoc failed (exit {code}) on {', '.join(protos)}")
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())

        for proto in protos:
            source = Path(tmp) / Path(proto).parent
            stem = Path(proto).stem
            module = proto[: -len(".proto")].replace("/", ".")  # recoup.v1.recoup
            for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
                text = (source / f"{stem}{suffix}").read_text(encoding="utf-8")
                text = _rewrite_imports(text, protos)
                written += _write(out / f"{stem}{suffix}", text)
            written += _write(
                out / f"{stem}_pb2_grpc.pyi", _grpc_types(files, proto, protos, module)
            )

    digests = "".join(
        f"{hashlib.sha256((proto_root / p).read_bytes()).hexdigest()}  {p}\n" for p in protos
    )
    written += _write(out / "proto.sha256", digests)
    if verbose:
        for path in written:
            print(f"wrote {path}")
        print(f"gRPC stubs of {', '.join(protos)} are up to date in {out}")
    return written


def _rewrite_imports(text: str, protos: Iterable[str]) -> str:
    """``from recoup.v1 import recoup_pb2`` → ``from api.grpc_gen import recoup_pb2``."""
    for proto in protos:
        parent = str(Path(proto).parent).replace("/", ".")
        stem = Path(proto).stem
        text = re.sub(
            rf"^from {re.escape(parent)} import {stem}_pb2\b",
            f"from {PACKAGE} import {stem}_pb2",
            text,
            flags=re.MULTILINE,
        )
        text = re.sub(
            rf"^import {re.escape(parent)}\.{stem}_pb2\b",
            f"import {PACKAGE}.{stem}_pb2",
            text,
            flags=re.MULTILINE,
        )
    return text


def _grpc_types(
    files: descriptor_pb2.FileDescriptorSet, proto: str, protos: list[str], module: str
) -> str:
    """The .pyi of ``<name>_pb2_grpc``: typed client stubs and servicers for grpc.aio."""
    # Fully qualified message name → (the Python module that defines it, its name there).
    where: dict[str, tuple[str, str]] = {}
    imports: dict[str, str] = {}
    for index, file in enumerate(files.file):
        if file.name in protos:
            python_module = f"{PACKAGE}.{Path(file.name).stem}_pb2"
        else:  # google/protobuf/timestamp.proto → google.protobuf.timestamp_pb2
            python_module = file.name[: -len(".proto")].replace("/", ".") + "_pb2"
        alias = "_" + python_module.rsplit(".", 1)[-1]
        if alias in imports.values():
            alias = f"{alias}_{index}"
        prefix = f".{file.package}." if file.package else "."
        for message in file.message_type:
            where[prefix + message.name] = (python_module, alias)
        imports[python_module] = alias

    target = next(f for f in files.file if f.name == proto)
    used: dict[str, str] = {}

    def name_of(full_name: str) -> str:
        python_module, alias = where[full_name]
        used[python_module] = imports[python_module]
        return f"{alias}.{full_name.rsplit('.', 1)[-1]}"

    body: list[str] = []
    for service in target.service:
        full = f"{target.package}.{service.name}" if target.package else service.name
        body += ["", "", f"class {service.name}Stub:"]
        body.append(f'    """Client of {full} (on a grpc.aio channel)."""')
        body.append("")
        body.append("    def __init__(self, channel: grpc.aio.Channel) -> None: ...")
        for method in service.method:
            kind = _KINDS[(method.client_streaming, method.server_streaming)]
            req, resp = name_of(method.input_type), name_of(method.output_type)
            callable_ = "UnaryUnary" if kind == "Unary" else kind
            body.append(f"    {method.name}: grpc.aio.{callable_}MultiCallable[{req}, {resp}]")
        body += ["", "", f"class {service.name}Servicer:"]
        body.append(f'    """Server side of {full}: override each method (grpc.aio)."""')
        for method in service.method:
            req, resp = name_of(method.input_type), name_of(method.output_type)
            request = f"AsyncIterator[{req}]" if method.client_streaming else req
            result = f"AsyncIterator[{resp}]" if method.server_streaming else f"Awaitable[{resp}]"
            body.append("")
            body.append(f"    def {method.name}(")
            context = f"grpc.aio.ServicerContext[{req}, {resp}]"
            body.append(f"        self, request: {request}, context: {context}")
            body.append(f"    ) -> {result}: ...")
        body += ["", ""]
        body.append(
            f"def add_{service.name}Servicer_to_server("
            f"servicer: {service.name}Servicer, server: grpc.aio.Server) -> None: ..."
        )
    header = [
        f"# Generated by api/grpc_gen/build.py from {proto}. DO NOT EDIT!",
        f"# Types of {module}_pb2_grpc, for grpc.aio.",
        "from collections.abc import AsyncIterator, Awaitable",
        "",
        "import grpc",
        "import grpc.aio",
        "",
    ]
    header += [f"import {m} as {a}" for m, a in sorted(used.items())]
    return "\n".join(header + body) + "\n"


def _write(path: Path, text: str) -> list[Path]:
    """Write ``text`` to ``path`` unless it is there already (atomically)."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return []
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return [path]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    root = Path(args[0]) if args else None
    try:
        generate(root, verbose=True)
    except (RuntimeError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build hook: generate the gRPC stubs (``api/grpc_gen``) from ``api/proto``.

Everything else about the package is in pyproject.toml. ``build_py`` runs in every
kind of install: a wheel build, ``pip install .`` and ``pip install -e .`` (in
editable mode it writes the stubs into the source tree, where the editable install
finds them). grpcio-tools comes from ``[build-system].requires``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _stub_builder() -> ModuleType:
    # By path: importing the ``api`` package would need the project's dependencies,
    # which pip's isolated build environment does not have.
    spec = importlib.util.spec_from_file_location(
        "_recoup_grpc_build", ROOT / "api" / "grpc_gen" / "build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithGrpcStubs(build_py):  # type: ignore[misc]  # setuptools has no types
    """``build_py`` that first generates the gRPC stubs and ships the .proto files."""

    def finalize_options(self) -> None:
        super().finalize_options()
        # The .proto files are the API's contract: ship them (and put them in the sdist,
        # whose wheel regenerates the stubs from them).
        proto_root = ROOT / "api" / "proto"
        for folder in sorted({p.parent for p in proto_root.rglob("*.proto")}):
            package = ".".join(folder.relative_to(ROOT).parts)
            patterns = self.package_data.setdefault(package, [])
            if "*.proto" not in patterns:
                patterns.append("*.proto")

    def run(self) -> None:
        for path in _stub_builder().generate(ROOT):
            self.announce(f"generated {path.relative_to(ROOT)}", level=2)
        # Package data (the .pyi stubs) is listed lazily; list it again now that the
        # generated files exist.
        self.__dict__.pop("data_files", None)
        super().run()


setup(cmdclass={"build_py": BuildPyWithGrpcStubs})

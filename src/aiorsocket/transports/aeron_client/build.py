"""Build the Aeron media driver and our client binding from PyPI's ``aeron-python`` sources.

    python -m aiorsocket.transports.aeron_client.build [--force]

Nothing of Aeron ships with aiorsocket.  PyPI's ``aeron-python`` 1.0.0 sdist bundles the full
Aeron 1.11.3 C/C++ tree; its own setup.py cannot build (it clones from the internet), so this
downloads the sdist (checked against a pinned SHA-256), builds only two targets of that tree with
cmake (the C media driver ``aeronmd`` and the static C++ client ``libaeron_client.a``), then
compiles our binding (``native.cpp``, pybind11) against them.  Everything lands in
:func:`aeron_home` (``$AIORSOCKET_AERON_HOME``, else ``~/.cache/aiorsocket/aeron``), keyed by
Aeron version, and each step is skipped when its result is already there: the binding is keyed by
a hash of its source and the interpreter's extension suffix, so an edited binding or another
Python rebuilds only the binding.  Needs cmake, make, a C/C++ compiler and ``pybind11`` (the
``aeron`` extra).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Final

AERON_VERSION: Final = "1.11.3"
SDIST_PROJECT: Final = "aeron-python"
SDIST_NAME: Final = "aeron_python-1.0.0.tar.gz"
SDIST_SHA256: Final = "236beb5ac4766fdec38334950dcafad15c014e76587c7be7a8ebe4376460dfcd"
INDEX_URL: Final = "https://pypi.org/simple"
#: The part of the sdist we build; the rest (its pybind11 copy, fmt, the archive client) is unused.
SOURCE_PREFIX: Final = "external/aeron/"
BINDING_SOURCE: Final = Path(__file__).with_name("native.cpp")
CMAKE_OPTIONS: Final = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_AERON_DRIVER=ON",
    "-DAERON_TESTS=OFF",
    "-DAERON_BUILD_SAMPLES=OFF",
    "-DAERON_BUILD_DOCUMENTATION=OFF",
    "-DAERON_INSTALL_TARGETS=OFF",
    "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
)


class BuildError(Exception):
    """A step of the build failed; the message says which and how to fix it."""


def aeron_home() -> Path:
    """Where the sources, the driver and the binding live, one folder per Aeron version."""
    root = os.environ.get("AIORSOCKET_AERON_HOME") or Path.home() / ".cache" / "aiorsocket" / "aeron"
    return Path(root) / f"aeron-{AERON_VERSION}"


def driver_path(home: Path | None = None) -> Path:
    return (home or aeron_home()) / "build" / "binaries" / "aeronmd"


def binding_path(home: Path | None = None) -> Path:
    """The compiled binding for this interpreter and this version of ``native.cpp``."""
    key = hashlib.sha256(BINDING_SOURCE.read_bytes()).hexdigest()[:16]
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    return (home or aeron_home()) / "python" / key / f"_native{suffix}"


def _log(message: str) -> None:
    print(f"aeron build: {message}", file=sys.stderr, flush=True)


def _run(command: list[str], cwd: Path, log: Path) -> None:
    with log.open("w") as out:
        done = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise BuildError(f"{' '.join(command)} failed (exit {done.returncode}); log {log}:\n{tail}")


def _sdist_url() -> str:
    """The sdist's link from PyPI's simple index (``pip download`` refuses its metadata)."""
    request = urllib.request.Request(
        f"{INDEX_URL}/{SDIST_PROJECT}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        index = json.load(response)
    for entry in index["files"]:
        if entry["filename"] == SDIST_NAME:
            return str(entry["url"])
    raise BuildError(f"{SDIST_NAME} is not on {INDEX_URL}/{SDIST_PROJECT}/")


def fetch_sdist(home: Path) -> Path:
    target = home / "download" / SDIST_NAME
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == SDIST_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    url = _sdist_url()
    _log(f"downloading {url}")
    with urllib.request.urlopen(url, timeout=120) as response:
        data = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SDIST_SHA256:
        raise BuildError(f"{SDIST_NAME} has SHA-256 {digest}, expected {SDIST_SHA256}; refusing to build it")
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def extract_sources(home: Path, sdist: Path) -> Path:
    source = home / "src"
    marker = source / ".extracted"
    if marker.exists():
        return source
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        members = []
        for member in archive.getmembers():
            if member.name.startswith(SOURCE_PREFIX) and "/.git" not in member.name:
                member.name = member.name[len(SOURCE_PREFIX) :]
                members.append(member)
        archive.extractall(source, members=members, filter="data")
    marker.touch()
    return source


def build_aeron(home: Path, source: Path) -> None:
    build = home / "build"
    marker = build / ".built"
    if marker.exists() and driver_path(home).exists() and (build / "lib" / "libaeron_client.a").exists():
        return
    build.mkdir(parents=True, exist_ok=True)
    _log(f"building aeronmd and libaeron_client {AERON_VERSION} in {build}")
    _run(["cmake", str(source), *CMAKE_OPTIONS], build, build / "cmake.log")
    jobs = str(os.cpu_count() or 2)
    _run(
        ["cmake", "--build", ".", "--target", "aeronmd", "aeron_client", "-j", jobs],
        build,
        build / "make.log",
    )
    marker.touch()


def build_binding(home: Path, source: Path) -> Path:
    target = binding_path(home)
    if target.exists():
        return target
    try:
        import pybind11
    except ImportError:
        raise BuildError("the binding needs pybind11: pip install 'aiorsocket[aeron]'") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    _log(f"compiling the binding into {target}")
    partial = target.with_name(target.name + ".part")
    command = [
        os.environ.get("CXX", "c++"),
        "-O2",
        "-std=c++17",
        "-shared",
        "-fPIC",
        "-fvisibility=hidden",
        f'-DAIORSOCKET_AERON_VERSION="{AERON_VERSION}"',
        f"-I{pybind11.get_include()}",
        f"-I{sysconfig.get_paths()['include']}",
        f"-I{source / 'aeron-client' / 'src' / 'main' / 'cpp'}",
        str(BINDING_SOURCE),
        str(home / "build" / "lib" / "libaeron_client.a"),
        "-lpthread",
        "-o",
        str(partial),
    ]
    _run(command, target.parent, target.parent / "compile.log")
    partial.replace(target)
    return target


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """One build at a time per home, so parallel installs or test runs never see half a build."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build(*, force: bool = False) -> tuple[Path, Path]:
    """Make sure the driver and the binding exist; returns their paths."""
    home = aeron_home()
    with _locked(home):
        if force:
            for part in ("src", "build", "python"):
                shutil.rmtree(home / part, ignore_errors=True)
        started = time.perf_counter()
        source = extract_sources(home, fetch_sdist(home))
        build_aeron(home, source)
        binding = build_binding(home, source)
        _log(f"ready in {time.perf_counter() - started:.1f} s")
    return driver_path(home), binding


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild everything from the sdist")
    args = parser.parse_args(argv)
    try:
        driver, binding = build(force=args.force)
    except (BuildError, OSError) as exc:
        print(f"aeron build failed: {exc}", file=sys.stderr)
        return 1
    print(f"driver: {driver}\nbinding: {binding}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Builds the project's CUDA kernels (csrc/cuda/*.cu) and their bindings (csrc/bind_cuda.cpp) for
the CPU, against the emulation of the CUDA execution model in cuda_runtime_api.h beside this
file: a test-only extension module, never part of the installed package.

The .cu sources are compiled as they are, but for two rewrites the host compiler needs:
``kernel<<<grid, block, shared, stream>>>(args);`` becomes a call of ``gib_emulation::launch``
with a lambda that runs the kernel, and ``__shared__ T name;`` becomes a function-local static
that every block poisons before use. The result is cached under build/cuda_emulation, keyed by a
hash of every source it reads.
"""
from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pybind11

ROOT = Path(__file__).resolve().parents[2]
SHIM = Path(__file__).resolve().parent
CACHE = ROOT / "build" / "cuda_emulation"

_LAUNCH = re.compile(r"([A-Za-z_]\w*(?:<[^<>;]*>)?)<<<")
_SHARED = re.compile(r"__shared__\s+([^;]+?)\s+(\w+)\s*;")


def _closing(text: str, start: int, opening: str, closing: str) -> int:
    """The index just past the bracket that closes the one at `start`."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError(f"unbalanced {opening}{closing} at {start}")


def rewrite(source: str) -> str:
    """The .cu source with launches and shared variables in the emulation's terms."""
    source = _SHARED.sub(lambda m: f"static {m.group(1)} {m.group(2)}; "
                                   f"::gib_emulation::poison_shared(&{m.group(2)}, "
                                   f"sizeof({m.group(2)}));", source)
    out, pos = [], 0
    for match in _LAUNCH.finditer(source):
        if match.start() < pos:
            continue
        config_end = source.index(">>>", match.end())
        args_start = source.index("(", config_end)
        args_end = _closing(source, args_start, "(", ")")
        kernel, config = match.group(1), source[match.end():config_end]
        args = source[args_start + 1:args_end - 1]
        out.append(source[pos:match.start()])
        out.append(f"::gib_emulation::launch({config}, [=]() {{ {kernel}({args}); }})")
        pos = args_end
    out.append(source[pos:])
    return "".join(out)


def _sources() -> list[Path]:
    return sorted((ROOT / "csrc" / "cuda").glob("*.cu"))


def _fingerprint() -> str:
    digest = hashlib.sha256()
    files = [*_sources(), ROOT / "csrc" / "bind_cuda.cpp", Path(__file__), SHIM / "cuda_runtime_api.h",
             *sorted((ROOT / "csrc" / "include" / "gib").glob("*"))]
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build(broken: dict[str, tuple[str, str]] | None = None) -> Path:
    """The emulated extension, built if needed. ``broken``: {file name: (text, replacement)}
    applied to a .cu source or a header of gib/ first (to check that the tests catch a bug)."""
    key = _fingerprint() + ("" if not broken else
                            hashlib.sha256(repr(sorted(broken.items())).encode()).hexdigest()[:8])
    out_dir = CACHE / key
    target = out_dir / ("_cuda" + sysconfig.get_config_var("EXT_SUFFIX"))
    if target.exists():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    include = ROOT / "csrc" / "include"
    headers = {name: patch for name, patch in (broken or {}).items() if not name.endswith(".cu")}
    if headers:  # a patched copy of the headers
        include = out_dir / "include"
        shutil.copytree(ROOT / "csrc" / "include", include, dirs_exist_ok=True)
        for name, (before, after) in headers.items():
            header = include / "gib" / name
            text = header.read_text()
            assert before in text, f"{before!r} is not in {name}"
            header.write_text(text.replace(before, after))
    units = []
    for path in _sources():
        text = path.read_text()
        if broken and path.name in broken:
            before, after = broken[path.name]
            assert before in text, f"{before!r} is not in {path.name}"
            text = text.replace(before, after)
        unit = out_dir / (path.stem + ".cpp")
        unit.write_text(f'#define __CUDACC__ 1\n#line 1 "{path}"\n' + rewrite(text))
        units.append(unit)
    command = [
        "g++", "-std=c++20", "-O1", "-fPIC", "-shared", "-pthread", "-fvisibility=hidden",
        f"-I{SHIM}", f"-I{include}", f"-I{pybind11.get_include()}",
        f"-I{sysconfig.get_paths()['include']}", *map(str, units),
        str(ROOT / "csrc" / "bind_cuda.cpp"), "-o", str(target),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError("the CUDA emulation did not build:\n" + done.stderr[-6000:])
    return target


def load(path: Path):
    """The built module, as the package's _cuda extension would be."""
    spec = importlib.util.spec_from_file_location("_cuda", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    print(build())
    sys.exit(0)

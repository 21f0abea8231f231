"""Build the compiled backends of gib_kernels.

- ``gib_kernels._cpu``: C++17 kernels over raw buffers, OpenMP, always built.
- ``gib_kernels._cuda``: CUDA kernels, built when ``nvcc`` is found.
  ``GIB_KERNELS_CUDA=0`` skips it, ``GIB_KERNELS_CUDA=1`` makes a failed build an error.
  ``GIB_KERNELS_CUDA_ARCH`` sets the target (default ``80;90``).

No torch at build time: the extensions work on buffers, torch tensors reach them from Python.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent
INCLUDE = str(ROOT / "csrc" / "include")
CPU_SOURCES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc" / "cpu").glob("*.cpp"))
CUDA_SOURCES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc" / "cuda").glob("*.cu"))
# headers, and knn_scan.inc (included once per vector unit): a change rebuilds the extension
CPU_DEPENDS = sorted(str(p.relative_to(ROOT)) for p in
                     [*(ROOT / "csrc" / "include" / "gib").glob("*.h"),
                      *(ROOT / "csrc" / "cpu").glob("*.inc")])

OPENMP = [] if sys.platform == "darwin" else ["-fopenmp"]
# -ffp-contract=off: a * b + c stays two roundings where the compiler could fuse it (the AVX2 and
# AVX-512 copies of the k-NN scan, -march=native), so every vector unit gives the same bits.
CPU_FLAGS = ["-O3", "-fno-math-errno", "-ffp-contract=off", *OPENMP]
if os.environ.get("GIB_KERNELS_NATIVE", "0") == "1":
    CPU_FLAGS.append("-march=native")


def _find_nvcc():
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home and (Path(home) / "bin" / "nvcc").exists():
        return str(Path(home) / "bin" / "nvcc")
    return shutil.which("nvcc")


def _cuda_home(nvcc):
    """The toolkit root holding include/cuda_runtime_api.h (nvcc on PATH may be a wrapper)."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"),
                  Path(nvcc).resolve().parent.parent, "/usr/local/cuda"]
    for home in candidates:
        if home and (Path(home) / "include" / "cuda_runtime_api.h").exists():
            return Path(home)
    raise RuntimeError("found nvcc but not the CUDA headers; set CUDA_HOME")


def _cuda_wanted():
    flag = os.environ.get("GIB_KERNELS_CUDA")
    if flag == "0":
        return False, None
    nvcc = _find_nvcc()
    if nvcc is None and flag == "1":
        raise RuntimeError("GIB_KERNELS_CUDA=1 but nvcc was not found (set CUDA_HOME)")
    return nvcc is not None, nvcc


class BuildExt(build_ext):
    """Compiles .cu sources with nvcc, everything else with the C++ compiler."""

    def build_extension(self, ext):
        if ext.name.endswith("_cuda"):
            try:
                self._build_cuda(ext)
            except Exception as exc:  # optional backend: a failed build must not break install
                if os.environ.get("GIB_KERNELS_CUDA") == "1":
                    raise
                print(f"gib_kernels: skipping the CUDA extension ({exc})", file=sys.stderr)
            return
        super().build_extension(ext)

    def _build_cuda(self, ext):
        nvcc = ext.nvcc
        archs = os.environ.get("GIB_KERNELS_CUDA_ARCH", "80;90").split(";")
        gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs if a]
        build_temp = Path(self.build_temp) / "cuda"
        build_temp.mkdir(parents=True, exist_ok=True)
        objects = []
        for src in [s for s in ext.sources if s.endswith(".cu")]:
            obj = build_temp / (Path(src).stem + ".o")
            cmd = [nvcc, "-c", src, "-o", str(obj), "-std=c++17", "-O3", "-Xcompiler", "-fPIC",
                   "--expt-relaxed-constexpr", f"-I{INCLUDE}", *gencode]
            print(" ".join(cmd))
            subprocess.check_call(cmd)
            objects.append(str(obj))
        cuda_home = _cuda_home(nvcc)
        ext.sources = [s for s in ext.sources if not s.endswith(".cu")]
        ext.extra_objects = objects
        ext.library_dirs = [str(cuda_home / "lib64"), str(cuda_home / "lib")]
        ext.libraries = ["cudart_static", "rt", "dl", "pthread"]
        ext.include_dirs = [*ext.include_dirs, str(cuda_home / "include")]
        super().build_extension(ext)


ext_modules = [
    Pybind11Extension(
        "gib_kernels._cpu",
        ["csrc/bind_cpu.cpp", *CPU_SOURCES],
        include_dirs=[INCLUDE],
        depends=CPU_DEPENDS,
        cxx_std=17,
        extra_compile_args=CPU_FLAGS,
        extra_link_args=OPENMP,
    )
]

_with_cuda, _nvcc = _cuda_wanted()
if _with_cuda and CUDA_SOURCES:
    cuda_ext = Pybind11Extension(
        "gib_kernels._cuda",
        ["csrc/bind_cuda.cpp", *CUDA_SOURCES],
        include_dirs=[INCLUDE],
        cxx_std=17,
        extra_compile_args=["-O3"],
    )
    cuda_ext.nvcc = _nvcc
    ext_modules.append(cuda_ext)

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExt})

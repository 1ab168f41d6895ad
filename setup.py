"""Build driver: setuptools hands the C++ core to CMake.

One CMake build produces ``vrft_rewards/_C`` (CPU core, always) and, where CMake finds a CUDA
toolkit, ``vrft_rewards/_C_cuda``.  Both land in the directory setuptools expects ``_C`` in, so
wheels, ``pip install .`` and ``pip install -e .`` all pick them up.

Environment knobs:
  VRFT_CUDA=0            do not build the CUDA module even if nvcc is found
  VRFT_CUDA_ARCHS="80;90" CUDA architectures (default: 80;90)
  VRFT_BUILD_TYPE        CMake build type (default: Release)
  VRFT_WERROR=1          warnings as errors (CI)
  VRFT_SANITIZE=address,undefined  sanitizer build for tests (default build type RelWithDebInfo;
                         load it with the runtime preloaded: docs/reliability.md, tools/sanitize.sh)
  VRFT_SANITIZE_RECOVER=1  report every sanitizer finding and go on (survey runs)
  CMAKE_ARGS             extra arguments passed to the CMake configure step
  CMAKE_BUILD_PARALLEL_LEVEL  parallel compile jobs
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    """An extension whose sources CMake knows; setuptools only needs its name."""

    def __init__(self, name: str, optional: bool = False) -> None:
        super().__init__(name, sources=[], optional=optional)


def _drop_stale_cmake_cache(build_temp: Path) -> None:
    """Forget a CMake cache written by another build environment.

    pip builds in the source tree, each time in a fresh isolated environment with its own cmake
    and ninja; a CMakeCache.txt left by an earlier `pip install .` points at tools that are gone
    ("ninja --version failed: no such file"), so it is removed and CMake configures afresh.
    """
    cache = build_temp / "CMakeCache.txt"
    if not cache.exists():
        return
    tools = {}
    for line in cache.read_text(errors="replace").splitlines():
        for key in ("CMAKE_COMMAND:INTERNAL=", "CMAKE_MAKE_PROGRAM:FILEPATH="):
            if line.startswith(key):
                tools[key] = line[len(key) :].strip()
    current_cmake = shutil.which("cmake")
    stale = any(path and not Path(path).exists() for path in tools.values()) or (
        current_cmake is not None
        and tools.get("CMAKE_COMMAND:INTERNAL=") not in (None, "")
        and Path(tools["CMAKE_COMMAND:INTERNAL="]).resolve() != Path(current_cmake).resolve()
    )
    if stale:
        cache.unlink()
        shutil.rmtree(build_temp / "CMakeFiles", ignore_errors=True)


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        if ext.name.endswith("_C_cuda"):
            # Built by the same CMake run as _C (when a CUDA toolkit was found). Declared as an
            # optional extension so that setuptools copies it for editable installs when present
            # and skips it quietly when absent.
            return
        extdir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        sanitize = os.environ.get("VRFT_SANITIZE", "")
        default_type = "Debug" if self.debug else ("RelWithDebInfo" if sanitize else "Release")
        build_type = os.environ.get("VRFT_BUILD_TYPE", default_type)
        cmake_args = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={extdir}{os.sep}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-DCMAKE_BUILD_TYPE={build_type}",
            f"-DVRFT_CUDA={'OFF' if os.environ.get('VRFT_CUDA', '1') in ('0', 'OFF', 'off', 'false') else 'ON'}",
            f"-DVRFT_CUDA_ARCHS={os.environ.get('VRFT_CUDA_ARCHS', '80;90')}",
            f"-DVRFT_WERROR={'ON' if os.environ.get('VRFT_WERROR', '0') == '1' else 'OFF'}",
            f"-DVRFT_SANITIZE={sanitize}",
            f"-DVRFT_SANITIZE_RECOVER={'ON' if os.environ.get('VRFT_SANITIZE_RECOVER', '0') == '1' else 'OFF'}",
        ]
        try:
            import pybind11

            cmake_args.append(f"-Dpybind11_DIR={pybind11.get_cmake_dir()}")
        except ImportError:  # CMake will search for it itself and say so if missing
            pass
        cmake_args += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        generator = [] if os.environ.get("CMAKE_GENERATOR") else ["-G", "Ninja"]

        build_temp = Path(self.build_temp) / ext.name
        build_temp.mkdir(parents=True, exist_ok=True)
        _drop_stale_cmake_cache(build_temp)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.run(["cmake", str(ROOT), *generator, *cmake_args], cwd=build_temp, check=True)
        subprocess.run(
            ["cmake", "--build", ".", "--config", build_type, "--parallel", jobs],
            cwd=build_temp,
            check=True,
        )


setup(
    ext_modules=[
        CMakeExtension("vrft_rewards._C"),
        CMakeExtension("vrft_rewards._C_cuda", optional=True),
    ],
    cmdclass={"build_ext": CMakeBuild},
)

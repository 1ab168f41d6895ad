"""Loading of the compiled modules.

``_C`` (the CPU core) is required: a missing or broken build fails at import with instructions.
``_C_cuda`` is optional: it is loaded lazily, and a function that needs it fails at call time
with an actionable message (:func:`require_cuda`).
"""

from __future__ import annotations

import importlib
from types import ModuleType

try:
    from . import _C  # noqa: F401  (re-exported for the facade modules)
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "vrft_rewards could not import its compiled core (vrft_rewards._C). Build it with "
        "`pip install .` (or `pip install -e .` from a checkout); it needs a C++17 compiler, "
        f"CMake >= 3.24 and pybind11. Original error: {exc}"
    ) from exc

_cuda_module: ModuleType | None = None
_cuda_error: str | None = None


def cuda_module() -> ModuleType | None:
    """Return ``vrft_rewards._C_cuda`` or ``None`` when it was not built or cannot load."""
    global _cuda_module, _cuda_error
    if _cuda_module is None and _cuda_error is None:
        try:
            _cuda_module = importlib.import_module("vrft_rewards._C_cuda")
        except ImportError as exc:
            _cuda_error = str(exc)
    return _cuda_module


def has_cuda() -> bool:
    """True when the CUDA module is built and at least one CUDA device is visible."""
    mod = cuda_module()
    return mod is not None and mod.device_count() > 0


def require_cuda(what: str) -> ModuleType:
    """Return the CUDA module or raise ``RuntimeError`` saying why ``what`` cannot run on CUDA."""
    mod = cuda_module()
    if mod is None:
        raise RuntimeError(
            f"{what} got CUDA tensors, but vrft_rewards was built without its CUDA module "
            f"(_C_cuda: {_cuda_error}). Reinstall where nvcc is on PATH (and VRFT_CUDA is not 0), "
            "or move the tensors to the CPU."
        )
    return mod

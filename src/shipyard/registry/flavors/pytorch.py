"""PyTorch modules (``torch.nn.Module``), served on the CPU.

Saving tries TorchScript first (``torch.jit.script``, written as ``model.pt``): a scripted
module loads with ``torch.jit.load`` without the Python code that defined it. Tracing
would need an example input, which ``save`` does not get, so a module that cannot be
scripted (data-dependent Python, unsupported types) is saved whole with ``torch.save``
through cloudpickle (``model.pth``), its class shipped by value when it lives in the
user's own files, so it loads in a process that lacks them; that file needs the same
torch (and cloudpickle) versions to load, which ``requirements()`` pins. Recent PyTorch
releases deprecate TorchScript (warnings from ``script``, ``jit.save`` and ``jit.load``) for
``torch.export``, which needs an example input too; those warnings concern our choice of
format, not the user's code, so they are silenced around our own calls only.

``predict`` turns a DataFrame or an array into a float32 tensor (a tensor is passed as it
is), runs the module in eval mode under ``torch.no_grad()`` and returns a numpy array (a
tuple or list of tensors comes back as a list of arrays).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shipyard.registry.flavors._common import by_value, from_package, pinned, require

SCRIPT_FILE = "model.pt"
PICKLE_FILE = "model.pth"


def _torch() -> Any:
    return require("torch", "pytorch", "pytorch")


class TorchModel:
    """A loaded module (``.module``) with ``predict(model_input) -> numpy``."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def predict(self, model_input: Any) -> Any:
        import numpy as np

        torch = _torch()
        if not isinstance(model_input, torch.Tensor):
            array = np.asarray(getattr(model_input, "to_numpy", lambda: model_input)())
            model_input = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        with torch.no_grad():
            output = self.module(model_input)
        return _to_numpy(output, torch)


def _to_numpy(output: Any, torch: Any) -> Any:
    if isinstance(output, torch.Tensor):
        return output.detach().cpu().numpy()
    if isinstance(output, tuple | list):
        return [_to_numpy(item, torch) for item in output]
    return output


class PyTorchFlavor:
    name = "pytorch"

    def detect(self, model: Any) -> bool:
        return from_package(model, "torch.nn", "Module")

    def save(self, model: Any, folder: str) -> None:
        torch = _torch()
        scripted = _scripted(model, torch)
        if scripted is not None:
            with _torchscript():
                torch.jit.save(scripted, os.path.join(folder, SCRIPT_FILE))
            return
        import cloudpickle

        with by_value(model):
            torch.save(model, os.path.join(folder, PICKLE_FILE), pickle_module=cloudpickle)

    def load(self, folder: str) -> Any:
        torch = _torch()
        script_file = os.path.join(folder, SCRIPT_FILE)
        if os.path.exists(script_file):
            with _torchscript():
                module = torch.jit.load(script_file, map_location="cpu")
        else:  # our own file, written by save(): a whole module, so not weights only
            module = torch.load(
                os.path.join(folder, PICKLE_FILE), map_location="cpu", weights_only=False
            )
        module.eval()
        return TorchModel(module)

    def requirements(self) -> list[str]:
        _torch()
        return pinned("torch", "cloudpickle")


def _scripted(model: Any, torch: Any) -> Any:
    """The module as TorchScript, or None when it cannot be scripted."""
    with _torchscript():
        try:
            return torch.jit.script(model)
        except Exception:  # scripting fails in many ways (frontend, type or runtime errors)
            return None


@contextmanager
def _torchscript() -> Iterator[None]:
    """Around our own TorchScript calls: no deprecation warnings about them (a
    DeprecationWarning in torch 2.13, a FutureWarning in 2.14)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`torch.jit")
        yield


FLAVOR = PyTorchFlavor()

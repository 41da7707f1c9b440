"""torch modules: eval mode, no_grad, on their device, in batches.

torch is imported only when a torch model is adapted; without it the error says which extra to
install.
"""
from __future__ import annotations

import numpy as np

from blackbox_xai._validation import Interval, Options, validate_init_args
from blackbox_xai.adapters.base import Model

POSTPROCESS = (None, "softmax", "sigmoid")


def is_torch_module(obj) -> bool:
    """Recognise a ``torch.nn.Module`` by its class hierarchy without importing torch."""
    return any(
        c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in type(obj).__mro__
    )


def _import_torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "explaining a torch model needs torch: pip install 'blackbox-xai[torch]'"
        ) from exc
    return torch


def _numpy_dtype(torch, dtype):
    """The NumPy dtype of a floating torch dtype (None where NumPy has none, e.g. bfloat16)."""
    if not dtype.is_floating_point:
        return None
    try:
        return torch.empty(0, dtype=dtype).numpy().dtype
    except TypeError:
        return None


def _check_device(torch, device):
    """``device`` as a torch.device, or a clear error where this process has no such GPU (torch's
    own is an AssertionError "Torch not compiled with CUDA enabled" or "invalid device ordinal")."""
    device = torch.device(device)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index is not None and device.index >= count):
            raise RuntimeError(
                f"device {str(device)!r} asked for, but torch sees {count} CUDA device(s) here"
                f"{' (a CPU build of torch, or no GPU)' if count == 0 else ''}; use device='cpu'"
            )
    return device


class TorchModel(Model):
    """Adapter for a ``torch.nn.Module``.

    The module runs in eval mode (its previous mode is restored after each call) under
    ``torch.no_grad``, on ``device``, in batches of at most ``batch_size`` rows; inputs are cast to
    ``dtype`` and outputs come back as float64 NumPy arrays.

    Parameters
    ----------
    module : torch.nn.Module
    device : str or torch.device, optional
        Where to run. Default: the device of the module's first parameter (CPU if it has none).
        The module is moved there.
    batch_size : int, optional
        Rows per forward pass. Default: 512 on CPU (small CNNs run fastest there at 256-512
        rows on 2 cores), none on accelerators (the engine's memory budget decides).
    dtype : torch.dtype, optional
        Input dtype. Default: the dtype of the module's first floating parameter, else float32.
    postprocess : {None, "softmax", "sigmoid"}
        Applied to the module's output, e.g. "softmax" to explain probabilities of a module that
        returns logits.
    """

    _parameter_constraints = {
        "postprocess": [Options(*POSTPROCESS)],
        "batch_size": [None, Interval(int, 1)],
    }

    def __init__(self, module, *, device=None, batch_size=None, dtype=None, postprocess=None):
        torch = _import_torch()
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        validate_init_args(self, locals())
        params = list(module.parameters())
        if device is None:
            device = params[0].device if params else torch.device("cpu")
        device = _check_device(torch, device)
        if dtype is None:
            floating = [p.dtype for p in params if p.is_floating_point()]
            dtype = floating[0] if floating else torch.float32
        if batch_size is None and device.type == "cpu":
            batch_size = 512
        super().__init__(type(module).__name__, batch_size=batch_size, device=str(device))
        self.module = module.to(device)
        self.dtype = dtype
        self.input_dtype = _numpy_dtype(torch, dtype)
        self.postprocess = postprocess
        self.output_kind = {"softmax": "probability", "sigmoid": "probability"}.get(postprocess, "logit")

    def to_device(self, device):
        """Move the module to ``device`` (a Ray worker given a GPU calls this with "cuda")."""
        torch = _import_torch()
        device = _check_device(torch, device)
        self.module = self.module.to(device)
        self.device = str(device)
        return self

    def _forward(self, torch, chunk):
        tensor = torch.from_numpy(np.ascontiguousarray(chunk)).to(device=self.device, dtype=self.dtype)
        out = self.module(tensor)
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"module {self.name} returned {type(out).__name__}; expected one tensor (B, K)"
            )
        if self.postprocess == "softmax":
            out = torch.softmax(out, dim=-1)
        elif self.postprocess == "sigmoid":
            out = torch.sigmoid(out)
        return out.detach().to("cpu", torch.float64).numpy()

    def _predict(self, batch):
        torch = _import_torch()
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                step = self.batch_size or len(batch)
                parts = [self._forward(torch, batch[i:i + step]) for i in range(0, len(batch), step)]
        finally:
            self.module.train(was_training)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

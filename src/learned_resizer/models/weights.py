"""Reading weight files from outside, and loading them into modules, with one-line errors.

Every loader of weights (``model.pretrained``, ``init_from``, saved pipelines, ``--resizer-from``)
goes through here, so a truncated, random or empty file, a pickle that is not a plain state dict,
or weights whose shapes disagree with the module are all reported the same way: a ``ValueError``
naming the file and what is wrong, which the CLI prints as one line.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def load_weight_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict (``.safetensors``, or a ``.pth``/``.pt`` read with ``weights_only=True``)
    without executing code from the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file, expected weights")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except Exception as error:  # safetensors raises its own error types for damaged files
            raise ValueError(f"{path}: not a readable safetensors file ({_first_line(error)})") from error
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError for refused objects, RuntimeError/EOFError for damage
        raise ValueError(
            f"{path}: not a plain PyTorch state dict of tensors (read without running its code: {_first_line(error)})"
        ) from error
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    return state


def load_state(module: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Load ``state`` into ``module``, all keys and shapes matching; otherwise a ``ValueError``
    naming ``source`` and the first mismatching shapes or keys (checked before loading anything)."""
    own = module.state_dict()
    shapes = [
        f"{key} {tuple(value.shape)} where the model has {tuple(own[key].shape)}"
        for key, value in state.items()
        if key in own and tuple(value.shape) != tuple(own[key].shape)
    ]
    if shapes:
        more = f" (and {len(shapes) - 3} more)" if len(shapes) > 3 else ""
        raise ValueError(f"{source}: weights do not match the model: {'; '.join(shapes[:3])}{more}")
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    if missing or unexpected:
        raise ValueError(
            f"{source}: weights do not match the model; "
            f"missing keys {_some(missing)}, unexpected keys {_some(unexpected)}"
        )
    module.load_state_dict(state)


def _some(keys: list[str]) -> str:
    return f"{keys[:5]}{'...' if len(keys) > 5 else ''}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

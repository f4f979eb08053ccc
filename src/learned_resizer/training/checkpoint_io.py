"""Lightning checkpoints as one safetensors file: tensors in the body, everything else as JSON
in its header. Loading executes no code (no pickle), and every write is atomic (one temporary per
target, then a rename), so a crash mid-write leaves the previous checkpoint intact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import CheckpointIO
from safetensors import safe_open
from safetensors.torch import save_file

from learned_resizer.files import atomic_write

FORMAT = "learned-resizer-checkpoint/1"
_TENSOR, _DICT, _TUPLE = "__tensor__", "__dict__", "__tuple__"


def flatten(obj: Any, tensors: dict[str, torch.Tensor], path: str = "") -> Any:
    """Replace every tensor in a nested structure by a reference, collecting the tensors."""
    if isinstance(obj, torch.Tensor):
        key = path or "root"
        # a copy in the default layout: safetensors refuses shared storage and channels-last strides
        tensors[key] = obj.detach().cpu().clone(memory_format=torch.contiguous_format)
        return {_TENSOR: key}
    if isinstance(obj, dict):
        items = [(k, flatten(v, tensors, f"{path}/{k}")) for k, v in obj.items()]
        if all(isinstance(k, str) for k, _ in items) and _TENSOR not in obj and _DICT not in obj and _TUPLE not in obj:
            return dict(items)
        return {_DICT: [[_json_key(k, path), v] for k, v in items]}
    if isinstance(obj, tuple):
        return {_TUPLE: [flatten(v, tensors, f"{path}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten(v, tensors, f"{path}/{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"checkpoint entry {path or '/'}: cannot store a {type(obj).__name__} without pickle")


def unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_TENSOR}:
            return tensors[obj[_TENSOR]]
        if set(obj) == {_DICT}:
            return {k: unflatten(v, tensors) for k, v in obj[_DICT]}
        if set(obj) == {_TUPLE}:
            return tuple(unflatten(v, tensors) for v in obj[_TUPLE])
        return {k: unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unflatten(v, tensors) for v in obj]
    return obj


def _json_key(key: Any, path: str) -> Any:
    if key is None or isinstance(key, (bool, int, float, str)):
        return key
    raise TypeError(f"checkpoint entry {path or '/'}: key {key!r} of type {type(key).__name__} is not storable")


def save_checkpoint_file(checkpoint: dict[str, Any], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    structure = flatten(checkpoint, tensors)
    metadata = {"format": FORMAT, "structure": json.dumps(structure)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_checkpoint_file(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # safetensors raises its own error types for damaged files
        raise ValueError(f"{path}: not a readable safetensors checkpoint ({error})") from error
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: format {metadata.get('format')!r}, expected {FORMAT!r}")
    return unflatten(json.loads(metadata["structure"]), tensors)


class SafetensorsCheckpointIO(CheckpointIO):
    """Plug into ``Trainer(plugins=[...])`` so that Lightning's own save/resume uses this format."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        save_checkpoint_file(checkpoint, path)

    def load_checkpoint(
        self, path, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return load_checkpoint_file(path)

    def remove_checkpoint(self, path) -> None:
        Path(path).unlink(missing_ok=True)

"""A trained pipeline as a directory: ``config.json`` + ``model.safetensors``.

The convention of Hugging Face's ``save_pretrained`` / ``from_pretrained``: the config (a
:class:`~learned_resizer.pipeline_config.PipelineConfig`) says how to rebuild the modules (resizer
and base-model names and options, preprocessing, sizes, class names, version), the safetensors
file holds the weights. Loading never executes code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from safetensors.torch import save_file

from learned_resizer.files import atomic_write, atomic_write_text
from learned_resizer.models import create_model
from learned_resizer.models.weights import load_state, load_weight_file
from learned_resizer.pipeline import ResizeThenModel
from learned_resizer.pipeline_config import FORMAT, PipelineConfig
from learned_resizer.resizers import create_resizer

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def build_pipeline(config: PipelineConfig) -> ResizeThenModel:
    """Rebuild the (untrained) modules that ``config`` describes."""
    resizer = create_resizer(config.resizer, output_size=config.output_size, **config.resizer_options)
    model = create_model(config.model, config.num_outputs, pretrained=None, channels=config.channels)
    return ResizeThenModel(resizer, model, config.output_size, config.mean, config.std)


def save_pretrained(pipeline: ResizeThenModel, config: PipelineConfig, directory: str | Path) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``directory``, each atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in pipeline.state_dict().items()}
    atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": FORMAT}))
    atomic_write_text(directory / CONFIG_NAME, json.dumps(config.to_dict(), indent=2))
    return directory


def resolve_directory(path: str | Path) -> Path:
    """A saved pipeline's folder, given it or the run folder that holds it in ``model/``."""
    path = Path(path)
    return path / "model" if (path / "model" / CONFIG_NAME).is_file() else path


def load_config(path: str | Path) -> PipelineConfig:
    """The ``config.json`` of a saved pipeline (its folder, its run folder or the file itself)."""
    path = resolve_directory(path)
    config_file = path / CONFIG_NAME if path.is_dir() else path
    if not config_file.is_file():
        raise FileNotFoundError(f"no {CONFIG_NAME} in {path}: not a saved learned-resizer pipeline")
    try:
        data = json.loads(config_file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{config_file}: not valid JSON ({error})") from error
    return PipelineConfig.from_dict(data, str(config_file))


def from_pretrained(path: str | Path) -> tuple[ResizeThenModel, PipelineConfig]:
    """Load a directory written by :func:`save_pretrained`; returns the pipeline in eval mode and its config.

    ``path`` may also be a run folder (its ``model/`` is used). A ``namespace/name`` that is not a
    local path is treated as a Hugging Face Hub id (needs a network and ``huggingface_hub``).
    """
    written = str(path)  # as given: Path("./runs/x") forgets the "./" that marks it local
    path = resolve_directory(path)
    if not path.exists():
        if written.startswith(".") or not _HUB_ID.fullmatch(written):
            raise FileNotFoundError(f"no saved pipeline at {path}")
        path = _download_from_hub(written)
    config = load_config(path)
    try:
        pipeline = build_pipeline(config)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path / CONFIG_NAME}: cannot rebuild the pipeline it describes ({error})") from error
    weights = path / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_NAME} in {path}")
    try:
        load_state(pipeline, load_weight_file(weights), weights)
    except ValueError as error:
        raise ValueError(f"{error} (the architecture comes from {path / CONFIG_NAME})") from error
    return pipeline.eval(), config


def _download_from_hub(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as error:
        raise FileNotFoundError(
            f"{repo_id} is not a local directory, and huggingface_hub is not installed to fetch it"
        ) from error
    try:
        return Path(snapshot_download(repo_id, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME]))
    except (OSError, ValueError) as error:  # the Hub's errors: offline, no such repository, invalid id
        # a mistyped local folder of two parts ("runs/x") lands here too, so name both readings
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FileNotFoundError(
            f"no saved pipeline at {repo_id}: no such local folder, and fetching it as a Hugging Face Hub id "
            f"failed ({reason})"
        ) from error

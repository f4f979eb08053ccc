"""The schema of a saved pipeline's ``config.json``: what rebuilds its modules and serves them.

One dataclass, written by training (:func:`learned_resizer.training.run.pipeline_config`) and read
by :func:`learned_resizer.pretrained.from_pretrained`, so that the writer and the reader cannot
disagree on a field. A file is checked field by field when read; an error names the file and the
field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from learned_resizer import __version__
from learned_resizer.data.transforms import FITS

#: the ``format`` field of every ``config.json`` (and of the weights' metadata)
FORMAT = "learned-resizer-pipeline"
#: fields a ``config.json`` may lack: files written before ``data.fit`` existed have no ``fit``
MAY_BE_ABSENT = ("fit",)


@dataclass(frozen=True)
class PipelineConfig:
    """A trained pipeline's modules and how its inputs are prepared.

    Sequences are kept as tuples (``input_size``, ``output_size``, ``mean``, ``std``, ``classes``);
    :meth:`to_dict` writes them as JSON lists.
    """

    #: a name of :data:`learned_resizer.tasks.TASKS`
    task: str
    #: a name of the resizer registry, with the options it was built with
    resizer: str
    resizer_options: dict[str, Any]
    #: a base-model name (ours, torchvision's or ``timm:<name>``) and its head's width
    model: str
    num_outputs: int
    #: (h, w) the images are fitted to, and the (h, w) the resizer makes of them
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    #: per-channel normalisation; its length is the images' channel count
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: class names (classification, segmentation) or score-bin names (IQA), in head order
    classes: tuple[str, ...]
    #: how images are brought to ``input_size``; files written before ``data.fit`` existed cropped
    fit: str = "crop"
    #: the package version that wrote the file (required in a file, whatever the default)
    version: str = __version__

    def __post_init__(self) -> None:
        for name in ("task", "resizer", "model", "version"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name}: expected a string, got {getattr(self, name)!r}")
        if not isinstance(self.resizer_options, Mapping):
            raise ValueError(f"resizer_options: expected a mapping of option names, got {self.resizer_options!r}")
        if not _is_int(self.num_outputs) or self.num_outputs <= 0:
            raise ValueError(f"num_outputs: expected a positive int, got {self.num_outputs!r}")
        for name in ("input_size", "output_size"):
            size = getattr(self, name)
            if not _is_sequence(size) or len(size) != 2 or not all(_is_int(s) and s > 0 for s in size):
                raise ValueError(f"{name}: expected two positive ints (height, width), got {size!r}")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if not _is_sequence(values) or not values or not all(_is_number(v) for v in values):
                raise ValueError(f"{name}: expected a list of numbers, one per channel, got {values!r}")
        if len(self.std) != len(self.mean):
            raise ValueError(f"std: expected {len(self.mean)} values, one per channel of mean, got {len(self.std)}")
        if not all(s > 0 for s in self.std):
            raise ValueError(f"std: expected positive values, got {list(self.std)}")
        if not _is_sequence(self.classes) or not all(isinstance(c, str) for c in self.classes):
            raise ValueError(f"classes: expected a list of strings, got {self.classes!r}")
        if self.fit not in FITS:
            raise ValueError(f"fit: expected one of {FITS}, got {self.fit!r}")
        for name in ("input_size", "output_size", "mean", "std", "classes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "resizer_options", dict(self.resizer_options))

    @property
    def channels(self) -> int:
        """Channels of the images the pipeline takes (3 unless trained with ``data.channels``)."""
        return len(self.mean)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``config.json``: ``format`` and ``version`` first, sequences as lists."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values = {"format": FORMAT, "version": values.pop("version"), **values}
        return {
            name: list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, dict) else value
            for name, value in values.items()
        }

    def architecture(self) -> dict[str, Any]:
        """The fields a resumed training checkpoint must share with its run's config: every one
        but the file's ``format``, the writing ``version`` and the input ``fit``."""
        return {name: value for name, value in self.to_dict().items() if name not in ("format", "version", "fit")}

    @classmethod
    def from_dict(cls, data: Any, source: str = "config.json") -> PipelineConfig:
        """Read what :meth:`to_dict` wrote; ``source`` (the file) begins every error message."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise ValueError(f"{source}: format is {data.get('format')!r}, expected {FORMAT!r}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - {"format", *known})
        if unknown:
            raise ValueError(f"{source}: unknown field {unknown[0]!r}; expected only {['format', *known]}")
        required = [name for name in known if name not in MAY_BE_ABSENT]
        missing = [name for name in required if name not in data]
        if missing:
            raise ValueError(f"{source}: missing field {missing[0]!r} (required: {required})")
        try:
            return cls(**{name: data[name] for name in known if name in data})
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from error


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)

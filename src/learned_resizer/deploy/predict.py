"""A trained pipeline ready for requests. Serving follows the training path exactly: decode with
``load_rgb``, fit to the checkpoint's ``input_size`` with ``fit_to_size``, resize, run the model.
Resizing and the model run through :func:`learned_resizer.deploy.fast.prepare_for_inference`.

Resized images are exchanged in *pixel scale* (the scale of [0, 1] inputs; the learned resizer's
values may leave [0, 1]): normalisation is a detail of the checkpoint, never of a file or request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from learned_resizer.data.transforms import fit_to_size, to_float_image, unfit_logits
from learned_resizer.deploy.fast import prepare_for_inference
from learned_resizer.pipeline import ResizeThenModel, upsample_logits
from learned_resizer.pipeline_config import PipelineConfig
from learned_resizer.pretrained import from_pretrained
from learned_resizer.resizers.functional import Size, resize_image


class EagerPipeline:
    """The pipeline run as it is, for checkpoints of other than 3 channels, which the rewritten
    inference graphs (:mod:`learned_resizer.deploy.fast`) do not take: :meth:`resize` and
    :meth:`logits` as :class:`~learned_resizer.deploy.fast.FastPipeline` has them."""

    backend = "eager"

    def __init__(self, pipeline: ResizeThenModel) -> None:
        self.pipeline = pipeline

    @torch.inference_mode()
    def resize(self, images: torch.Tensor, size: Size | None = None) -> torch.Tensor:
        device = self.pipeline.mean.device
        resized = self.pipeline.resizer(
            self.pipeline.normalize(images.float().to(device)), size or self.pipeline.output_size
        )
        return self.pipeline.to_image(resized).to(images.device)

    @torch.inference_mode()
    def logits(self, resized: torch.Tensor) -> torch.Tensor:
        return self.pipeline.model(self.pipeline.normalize(resized.float().to(self.pipeline.mean.device))).to(
            resized.device
        )


class Predictor:
    """Resize and classify with a trained :class:`ResizeThenModel` in eval mode.

    ``backend`` is that of :func:`~learned_resizer.deploy.fast.prepare_for_inference`; ``device``
    is where the pipeline runs (images come and go on the CPU whatever it is).
    """

    def __init__(
        self,
        pipeline: ResizeThenModel,
        config: PipelineConfig,
        backend: str = "auto",
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.pipeline = pipeline.eval().to(self.device)
        self.config = config
        #: channels of the images the checkpoint takes (3 unless trained with data.channels)
        self.channels = config.channels
        self.fast = (
            prepare_for_inference(self.pipeline, backend, probe_size=config.input_size)
            if self.channels == 3
            else EagerPipeline(self.pipeline)
        )
        self.input_size: Size = config.input_size
        self.output_size: Size = pipeline.output_size
        classes, num_outputs = list(config.classes), config.num_outputs
        # a head without names (or with a mismatching list) still gets stable labels
        self.labels = classes if len(classes) == num_outputs else [f"class {i}" for i in range(num_outputs)]
        self.task = config.task
        self.fit_mode = config.fit

    @classmethod
    def load(cls, checkpoint: str | Path, backend: str = "auto", device: torch.device | str = "cpu") -> Predictor:
        return cls(*from_pretrained(checkpoint), backend=backend, device=device)

    def fit_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels (C, H, W), uint8 or floats in [0, 1] → float (C, h, w) in [0, 1] at ``input_size``,
        as every training split gets them (the run's ``data.fit``)."""
        return to_float_image(fit_to_size(pixels, self.input_size, self.fit_mode))

    @torch.inference_mode()
    def segment(self, image: Image.Image | torch.Tensor) -> np.ndarray:
        """Segmentation checkpoints: class ids (H, W) uint8 at the image's own size (an RGB image,
        or pixels (C, H, W) for a checkpoint of C channels). The logits are
        upsampled to the input size, as in training, then un-fitted (a letterbox's padding cut
        away) and resized back to the image, where the most probable class of each pixel is taken."""
        if self.task != "segmentation":
            raise ValueError(f"this checkpoint's task is {self.task!r}, not segmentation")
        pixels = image if isinstance(image, torch.Tensor) else F.pil_to_tensor(image)
        logits = self.fast.logits(self.resize(self.fit_pixels(pixels)[None]))
        logits = upsample_logits(logits, self.input_size)
        restored = unfit_logits(logits, tuple(pixels.shape[-2:]), self.fit_mode)
        return restored.argmax(dim=1)[0].to(torch.uint8).numpy()

    def resize(self, images: torch.Tensor, size: Size | None = None) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] → the pipeline's resizer output in pixel scale (N, C, h, w)."""
        return self.fast.resize(images, size)

    def bilinear(self, images: torch.Tensor, size: Size | None = None) -> torch.Tensor:
        """The baseline the learned resizer replaces: plain bilinear resizing (pixel scale)."""
        return resize_image(images, size or self.output_size, "bilinear")

    def probabilities(self, resized: torch.Tensor) -> torch.Tensor:
        """Resized images (N, 3, h, w) in pixel scale at ``output_size`` → softmax over the head (N, K)."""
        if tuple(resized.shape[-2:]) != self.output_size:
            raise ValueError(
                f"expected images of size {self.output_size} (the model's input), got {tuple(resized.shape[-2:])}"
            )
        return self.fast.logits(resized).softmax(dim=1)

    def top_k(self, probabilities: torch.Tensor, k: int) -> list[dict[str, Any]]:
        """The ``k`` most probable labels of one row of :meth:`probabilities`, most probable first."""
        values, indices = probabilities.topk(min(k, probabilities.numel()))
        return [{"label": self.labels[i], "index": int(i), "probability": float(v)} for v, i in zip(values, indices)]

    def mean_score(self, probabilities: torch.Tensor) -> float | None:
        """IQA checkpoints: the expected score over bins 1..K (the paper's AVA metric); else ``None``."""
        if self.task != "iqa":
            return None
        from learned_resizer.tasks.iqa import mean_score

        return float(mean_score(probabilities.unsqueeze(0))[0])

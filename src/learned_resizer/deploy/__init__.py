"""Deployment: resize files, export to ONNX/TorchScript, serve over HTTP, and a client.

Only the modules that need nothing beyond the training stack are re-exported here; the server
(FastAPI, uvicorn) and the client (httpx, onnxruntime) are imported from their own modules so
that ``resize`` and ``export`` work without the ``deploy`` extra.
"""

from learned_resizer.accel.fold import fold_batchnorm, fold_conv_bn
from learned_resizer.deploy.predict import Predictor

__all__ = ["Predictor", "fold_batchnorm", "fold_conv_bn"]

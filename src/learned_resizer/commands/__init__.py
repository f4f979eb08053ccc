"""Sub-commands of the ``learned-resizer`` CLI, discovered by name (one module each)."""

#: what every command that loads a trained pipeline accepts as its checkpoint
CHECKPOINT_HELP = (
    "a run folder, its model/ folder (config.json + model.safetensors), or a Hugging Face Hub id "
    "namespace/name where no local folder has that name"
)


def add_backend_option(parser) -> None:
    """``--backend``, for the commands that resize with a trained pipeline."""
    from learned_resizer.deploy.fast import BACKENDS

    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="what runs the learned resizer: auto (default) times the others here and keeps the fastest; "
        "kernels needs a C compiler, onnxruntime the deploy extra",
    )


def add_device_option(parser, default: str) -> None:
    """``--device``, for the commands that run a trained pipeline."""
    parser.add_argument(
        "--device",
        type=parse_device,
        default=default,
        help=f"where the pipeline runs: cpu, cuda, cuda:N or auto (cuda where there is one); default {default}",
    )


def parse_device(text: str):
    """A torch device from ``--device``; ``auto`` is CUDA where PyTorch finds one, else the CPU."""
    import argparse

    import torch

    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except RuntimeError as error:
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or auto, got {text!r}") from error
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or auto, got {text!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: PyTorch finds no CUDA device here")
    return device

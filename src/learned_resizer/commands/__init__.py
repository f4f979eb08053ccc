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

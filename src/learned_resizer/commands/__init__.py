"""Sub-commands of the ``learned-resizer`` CLI, discovered by name (one module each)."""

#: what every command that loads a trained pipeline accepts as its checkpoint
CHECKPOINT_HELP = (
    "a run folder, its model/ folder (config.json + model.safetensors), or a Hugging Face Hub id "
    "namespace/name where no local folder has that name"
)

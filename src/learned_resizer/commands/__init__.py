"""Sub-commands of the ``learned-resizer`` CLI, discovered by name (one module each)."""

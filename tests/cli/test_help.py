"""The top-level help speaks to users: what the tool does and every command, not module layout."""

import pytest

from learned_resizer.cli import main

COMMANDS = ("client", "compare", "demo", "evaluate", "export", "info", "pool", "resize", "serve", "train")


def test_help_describes_the_tool_and_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Task-aware image resizing" in text
    assert "learned_resizer.commands" not in text
    for command in COMMANDS:
        assert f" {command} " in text, command

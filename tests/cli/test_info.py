"""``learned-resizer info``: Table 2 and the JSON keys the issue promises."""

import json

import pytest

from learned_resizer.cli import main


def test_info_without_options_prints_table2(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.count(" yes") == 8 and " NO" not in out
    assert "11,872" in out and "93,376" in out


def test_info_json(capsys):
    assert (
        main(
            [
                "info",
                "--filters",
                "16",
                "--blocks",
                "1",
                "--input-size",
                "448",
                "448",
                "--output-size",
                "224",
                "224",
                "--model",
                "small_cnn",
                "--json",
            ]
        )
        == 0
    )
    info = json.loads(capsys.readouterr().out)
    assert info["kernel_weights"] == 11872
    assert info["trainable_parameters"] == 12035
    assert info["resizer_macs"] == 988266496
    assert info["total_macs"] == info["resizer_macs"] + info["model_macs"] and info["model_macs"] > 0


def test_info_bad_option_is_one_line_error(capsys):
    assert main(["info", "--filters", "0"]) == 2
    err = capsys.readouterr().err
    assert "filters must be a positive int" in err and "Traceback" not in err


def test_info_of_another_resizer(capsys):
    assert (
        main(
            [
                "info",
                "--resizer",
                "muller",
                "--input-size",
                "64",
                "64",
                "--output-size",
                "32",
                "32",
                "--model",
                "small_cnn",
                "--json",
            ]
        )
        == 0
    )
    info = json.loads(capsys.readouterr().out)
    assert (info["resizer"], info["kernel_weights"], info["trainable_parameters"]) == ("muller", 0, 4)
    assert info["resizer_macs"] == 3 * 2 * 5 * 64 * 64 * 2  # two separable 5-tap Gaussian blurs per band


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--resizer", "muller", "--filters", "8"],
            "--filters and --blocks describe the learned resizer, not 'muller'",
        ),
        (["--resizer", "lanczos"], "unknown resizer 'lanczos'"),
    ],
)
def test_info_refuses_options_of_another_resizer(argv, message, capsys):
    assert main(["info", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err

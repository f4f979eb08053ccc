"""``learned-resizer info``: parameters and multiply-accumulates of a resizer (and base model)."""

from __future__ import annotations

import argparse
import json

from learned_resizer.complexity import count_kernel_weights, count_macs, count_trainable_parameters
from learned_resizer.models import create_model
from learned_resizer.resizers import LearnedResizer, create_resizer

# Table 2 of the paper: kernel weights in thousands, truncated to two decimals.
PAPER_TABLE2 = {
    16: {1: 11.87, 2: 16.48, 3: 21.08, 4: 25.69},
    32: {1: 38.08, 2: 56.51, 3: 74.94, 4: 93.37},
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "info", help="parameters and MACs of a resizer; with no options, the paper's Table 2"
    )
    parser.add_argument("--resizer", help="any registered resizer, e.g. muller (default learned)")
    parser.add_argument("--filters", type=int, help="n, hidden width of the learned resizer (default 16)")
    parser.add_argument("--blocks", type=int, help="r, number of residual blocks (default 1)")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), help="resizer input (default 448 448)")
    parser.add_argument("--output-size", type=int, nargs=2, metavar=("H", "W"), help="resizer output (default 224 224)")
    parser.add_argument("--model", help="base model whose MACs at the output size are added (default resnet50)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def truncate_thousands(count: int) -> float:
    """The paper's rounding: thousands, truncated (not rounded) to two decimals."""
    return (count // 10) / 100


def table2_rows() -> list[dict]:
    rows = []
    for filters, by_blocks in PAPER_TABLE2.items():
        for blocks, paper in by_blocks.items():
            weights = count_kernel_weights(LearnedResizer(filters=filters, blocks=blocks))
            rows.append(
                {
                    "filters": filters,
                    "blocks": blocks,
                    "kernel_weights": weights,
                    "ours_k": truncate_thousands(weights),
                    "paper_k": paper,
                }
            )
    return rows


def resizer_info(
    name: str, options: dict, input_size: tuple[int, int], output_size: tuple[int, int], model: str
) -> dict:
    resizer = create_resizer(name, output_size=output_size, **options)
    base = create_model(model, num_classes=1000)
    resizer_macs = count_macs(resizer, input_size)
    model_macs = count_macs(base, output_size)
    return {
        "resizer": name,
        **options,
        "input_size": list(input_size),
        "output_size": list(output_size),
        "model": model,
        "kernel_weights": count_kernel_weights(resizer),
        "trainable_parameters": count_trainable_parameters(resizer),
        "resizer_macs": resizer_macs,
        "model_macs": model_macs,
        "total_macs": resizer_macs + model_macs,
    }


def run(args: argparse.Namespace) -> int:
    options = (args.resizer, args.filters, args.blocks, args.input_size, args.output_size, args.model)
    if all(o is None for o in options):
        rows = table2_rows()
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        print("Table 2: trainable parameters of the resizer (kernel weights, thousands)")
        print(f"{'n':>3} {'r':>2} {'kernel weights':>15} {'ours (k)':>9} {'paper (k)':>10}  match")
        for row in rows:
            match = "yes" if row["ours_k"] == row["paper_k"] else "NO"
            print(
                f"{row['filters']:>3} {row['blocks']:>2} {row['kernel_weights']:>15,} {row['ours_k']:>9.2f} "
                f"{row['paper_k']:>10.2f}  {match}"
            )
        return 0
    name = args.resizer or "learned"
    if name == "learned":
        options = {
            "filters": 16 if args.filters is None else args.filters,
            "blocks": 1 if args.blocks is None else args.blocks,
        }
        described = f"learned resizer n={options['filters']} r={options['blocks']}"
    elif args.filters is not None or args.blocks is not None:
        raise ValueError(f"--filters and --blocks describe the learned resizer, not {name!r}")
    else:
        options, described = {}, f"{name} resizer"
    info = resizer_info(
        name,
        options,
        tuple(args.input_size or (448, 448)),
        tuple(args.output_size or (224, 224)),
        args.model or "resnet50",
    )
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(
        f"{described}, {info['input_size'][0]}x{info['input_size'][1]}"
        f" -> {info['output_size'][0]}x{info['output_size'][1]}, base model {info['model']}"
    )
    print(f"  kernel weights (paper's Table 2) {info['kernel_weights']:>15,}")
    print(f"  trainable parameters             {info['trainable_parameters']:>15,}")
    print(f"  resizer MACs                     {info['resizer_macs']:>15,}  ({info['resizer_macs'] / 1e9:.3f} G)")
    print(f"  base model MACs                  {info['model_macs']:>15,}  ({info['model_macs'] / 1e9:.3f} G)")
    print(f"  total MACs                       {info['total_macs']:>15,}  ({info['total_macs'] / 1e9:.3f} G)")
    return 0

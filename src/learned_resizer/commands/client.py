"""``learned-resizer client URL IMAGE``: classify an image on a ``serve`` server, optionally resized here."""

from __future__ import annotations

import argparse
import os

from learned_resizer.commands.serve import TOKEN_VARIABLE


def register(subparsers) -> None:
    parser = subparsers.add_parser("client", help="send an image to a learned-resizer server and print its predictions")
    parser.add_argument("url", help="server address, e.g. http://127.0.0.1:8000")
    parser.add_argument("image", help="image file")
    parser.add_argument(
        "--resize-locally",
        metavar="CHECKPOINT_OR_ONNX",
        help="also resize here (an exported resizer .onnx, or a checkpoint folder) and send the result; "
        "prints both ways side by side",
    )
    parser.add_argument(
        "--float16", action="store_true", help="send the locally resized array as float16 (half the bytes)"
    )
    parser.add_argument(
        "--token", default=os.environ.get(TOKEN_VARIABLE), help=f"bearer token (default: ${TOKEN_VARIABLE})"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from learned_resizer.deploy.client import classify, load_local_resizer
    except ImportError as error:
        raise ValueError(f"client needs the deploy extra: pip install 'learned-resizer[deploy]' ({error})") from error
    local = load_local_resizer(args.resize_locally) if args.resize_locally else None
    replies = classify(args.url, args.image, local, args.token, args.float16, args.timeout)
    print(f"{'sent as':<26} {'bytes sent':>11} {'latency ms':>11}   server ms (decode/fit/resize/model)   local ms")
    for reply in replies:
        t = reply.body["timings_ms"]
        server = f"{t['decode']:.1f} / {t['fit']:.1f} / {t['resize']:.1f} / {t['model']:.1f}"
        local_ms = f"{reply.local_ms:.1f}" if reply.local_ms is not None else "-"
        print(f"{reply.how:<26} {reply.bytes_sent:>11,} {reply.latency_ms:>11.1f}   {server:<36}  {local_ms:>8}")
    for reply in replies:
        labels = ", ".join(f"{p['label']} {100 * p['probability']:.1f} %" for p in reply.body["predictions"])
        print(f"{reply.how}: {labels}")
    return 0

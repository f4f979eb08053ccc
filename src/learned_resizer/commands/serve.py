"""``learned-resizer serve CHECKPOINT``: HTTP inference server (FastAPI under uvicorn)."""

from __future__ import annotations

import argparse
import os
import sys

from learned_resizer.commands import CHECKPOINT_HELP, add_backend_option, add_device_option

TOKEN_VARIABLE = "LEARNED_RESIZER_TOKEN"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def register(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="serve a trained checkpoint over HTTP (API, OpenAPI schema, web page)")
    parser.add_argument("checkpoint", help=CHECKPOINT_HELP)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000, help="default 8000")
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE),
        help=f"require 'Authorization: Bearer TOKEN' on /v1 calls (default: ${TOKEN_VARIABLE}, else none)",
    )
    parser.add_argument("--max-bytes", type=int, help="largest upload in bytes (default 20 MiB)")
    parser.add_argument(
        "--max-pixels", type=int, help="largest image in pixels, checked before decoding (default 50 M)"
    )
    parser.add_argument("--max-in-flight", type=int, help="/v1 requests handled at once; more get 503 (default 4)")
    parser.add_argument(
        "--body-timeout", type=float, help="seconds a client has to send a whole request body; else 408 (default 30)"
    )
    parser.add_argument(
        "--read-timeout", type=float, help="longest pause in a request body, in seconds; else 408 (default 10)"
    )
    parser.add_argument("--top-k", type=int, help="labels returned when a request does not say (default 5)")
    add_backend_option(parser)
    add_device_option(parser, "cpu")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from learned_resizer.deploy.server import ServerLimits, serve
    except ImportError as error:
        raise ValueError(f"serve needs the deploy extra: pip install 'learned-resizer[deploy]' ({error})") from error
    given = {
        "max_bytes": args.max_bytes,
        "max_pixels": args.max_pixels,
        "max_in_flight": args.max_in_flight,
        "top_k": args.top_k,
        "body_timeout": args.body_timeout,
        "read_timeout": args.read_timeout,
    }
    limits = ServerLimits(**{name: value for name, value in given.items() if value is not None})
    if args.host not in LOOPBACK and not args.token:
        print(f"warning: listening on {args.host} without --token: anyone who can reach it can use it", file=sys.stderr)
    serve(args.checkpoint, args.host, args.port, args.token, limits, args.backend, args.device)
    return 0

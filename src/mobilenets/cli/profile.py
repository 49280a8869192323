"""``mobilenets profile``: exact Mult-Adds and parameters, or the papers' tables recomputed.

    mobilenets profile NAME [--width A] [--resolution PIXELS | --resolution-mult R]
                            [--by-kind] [--elementwise] [--json | --csv] [--plot OUT.png]
    mobilenets profile --paper v1|v2|v3|v4 [--plot OUT.png]

With NAME, ``--plot`` draws the breakdown by kind; with ``--paper v1``, the α x ρ grid.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from rich.console import Console

from mobilenets.cost.paper_tables import PAPERS
from mobilenets.cost.plots import (
    plot_breakdown,  # matplotlib is slow to import; only when asked
    plot_width_resolution_grid,
)
from mobilenets.cost.profiler import profile
from mobilenets.cost.reproduce import compare_with_paper, comparison_table, grid_table, quoted_table
from mobilenets.output_paths import check_output_file


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="exact Mult-Adds and parameters per layer, or a paper's cost tables recomputed",
        description="Count Mult-Adds (conv + linear, the papers' convention) and parameters of "
        "every layer of a model, or print a paper's cost tables next to our own figures.",
    )
    parser.add_argument("name", nargs="?", help="model name, e.g. mobilenet_v1_0.75_192")
    parser.add_argument("--paper", choices=PAPERS, help="recompute this paper's cost tables instead")
    parser.add_argument("--width", type=float, metavar="A", help="width multiplier α")
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--resolution", type=int, metavar="PIXELS", help="input side in pixels (default: the model's own)"
    )
    size.add_argument(
        "--resolution-mult",
        type=float,
        metavar="R",
        help="ρ: input side round(paper input·ρ); the paper input is 224 (V4: 224, 256 or 384)",
    )
    parser.add_argument("--by-kind", action="store_true", help="one row per kind of layer, with shares")
    parser.add_argument(
        "--elementwise", action="store_true", help="also count SE scaling, residual adds and hard-swish"
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the whole report as JSON")
    output.add_argument("--csv", action="store_true", help="print the layers (or kinds) as CSV")
    parser.add_argument(
        "--plot",
        metavar="OUT.png",
        help="write a PNG: the breakdown by kind, or with --paper v1 the α x ρ grid",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # The counting pass is one batch-1 forward whose shapes are all that matter. With several
    # intra-op threads, a busy machine makes it up to ten times slower (threads spin against
    # other processes); one thread costs little here and keeps the command fast everywhere.
    # The setting is restored on the way out, for callers that run main() in-process.
    if args.plot:  # fail before the work, not after
        check_output_file(args.plot, (".png",), "--plot")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_paper(args) if args.paper else _run_model(args)
    finally:
        torch.set_num_threads(threads)


def _run_model(args: argparse.Namespace) -> int:
    if not args.name:
        raise ValueError("give a model NAME (e.g. mobilenet_v1) or --paper v1|v2|v3|v4")
    create_kwargs: dict[str, Any] = {}
    if args.width is not None:
        create_kwargs["width_mult"] = args.width
    if args.resolution_mult is not None:
        create_kwargs["resolution_mult"] = args.resolution_mult
    report = profile(args.name, args.resolution, elementwise=args.elementwise, **create_kwargs)
    if args.json:
        print(report.to_json())
    elif args.csv:
        print(report.to_csv(by_kind=args.by_kind), end="")
    else:
        console = Console()
        console.print(report.kinds_table() if args.by_kind else report.layers_table())
        console.print(report.summary())
    if args.plot:
        written = plot_breakdown(report, args.plot)
        if not (args.json or args.csv):  # keep machine-readable output clean
            Console().print(f"wrote {written}", soft_wrap=True)
    return 0


def _run_paper(args: argparse.Namespace) -> int:
    ignored = [
        flag
        for flag, given in (
            ("NAME", args.name),
            ("--width", args.width is not None),
            ("--resolution", args.resolution is not None),
            ("--resolution-mult", args.resolution_mult is not None),
            ("--by-kind", args.by_kind),
            ("--elementwise", args.elementwise),
            ("--json", args.json),
            ("--csv", args.csv),
        )
        if given
    ]
    if ignored:
        raise ValueError(
            f"--paper recomputes the published tables and takes no {', '.join(ignored)}; "
            "drop them, or profile one model with NAME instead of --paper"
        )
    if args.plot and args.paper != "v1":
        raise ValueError(
            f"--plot with --paper {args.paper}: only V1 has a width x resolution grid (Tables 6-7). "
            "Use --paper v1, or plot one model's breakdown with NAME --plot."
        )
    console = Console()
    for comparison in compare_with_paper(args.paper):
        console.print(comparison_table(comparison))
        console.print()
        if comparison.quoted:  # what only the paper has: accuracy and measured latency
            console.print(quoted_table(comparison))
            console.print()
    if args.paper == "v1":
        console.print(grid_table())
        if args.plot:
            console.print(f"wrote {plot_width_resolution_grid(args.plot)}")
    return 0

"""Remake every figure of the guide and the numbers its pages quote, from the installed package.

    python docs/guide/make_figures.py                 # every page (a few minutes on 2 cores)
    python docs/guide/make_figures.py --pages v1,v3   # some pages
    python docs/guide/make_figures.py --quick --out /tmp/guide   # the tests' reduced setting

Figures go to ``<out>/img/``; each page's numbers to ``<out>/numbers/<page>.yml``, which the
pages read through the macros plugin (``{{ v1.mult_adds }}``), so no number in the text is typed
by hand. A page with measured numbers also gets the CPU and date they were measured on
(``{{ v3.machine.cpu }}``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import platform
import sys
from pathlib import Path

import yaml

GUIDE = Path(__file__).resolve().parent
sys.path.insert(0, str(GUIDE))
from compute.common import Output  # noqa: E402

PAGES = ("separable", "v1", "width_resolution", "v2", "v3", "v4", "deployment")


def machine() -> dict[str, str]:
    """The CPU and date the measured numbers come from: every measured figure names them."""
    import torch

    from mobilenets.bench.cpu_peak import estimate_cpu_peak

    peak = estimate_cpu_peak()
    return {
        "cpu": peak.feature_line(),
        "date": datetime.date.today().isoformat(),
        "threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
        "torch": str(torch.__version__),
    }


def make(pages: list[str], out: Path, quick: bool) -> dict[str, dict[str, object]]:
    """Run each page's computation and write its numbers file; the numbers, by page."""
    written: dict[str, dict[str, object]] = {}
    (out / "numbers").mkdir(parents=True, exist_ok=True)
    for page in pages:
        module = importlib.import_module(f"compute.{page}")
        print(f"{page}: computing", flush=True)
        numbers: dict[str, object] = dict(module.make(Output(out / "img", quick)))
        if module.MEASURED:
            numbers["machine"] = machine()
        header = f"# Written by docs/guide/make_figures.py --pages {page}: do not edit, remake it.\n"
        text = yaml.safe_dump(numbers, allow_unicode=True, sort_keys=True, width=1000)
        (out / "numbers" / f"{module.PAGE}.yml").write_text(header + text)
        written[module.PAGE] = numbers
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default=",".join(PAGES), help=f"comma-separated, of {', '.join(PAGES)}")
    parser.add_argument("--quick", action="store_true", help="reduced repeats, seeds and epochs")
    parser.add_argument("--out", type=Path, default=GUIDE, help="folder for img/ and numbers/")
    args = parser.parse_args()
    pages = [page for page in args.pages.split(",") if page]
    unknown = sorted(set(pages) - set(PAGES))
    if unknown:
        parser.error(f"--pages: unknown {', '.join(unknown)}; choose from {', '.join(PAGES)}")
    make(pages, args.out, args.quick)


if __name__ == "__main__":
    main()

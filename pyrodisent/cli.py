"""The ``pyrodisent`` command: ``pyrodisent list [KIND ...]`` shows what is registered by name.

    pyrodisent list                 # every kind: models, networks, likelihoods, kernels, datasets
    pyrodisent list models kernels  # only those

Each entry is printed with one line on what it is (the first line of its docstring), so a researcher sees
the names a config or a flag can use without reading the source. Also runs as ``python -m pyrodisent``.
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, Optional, Sequence, TextIO

from pyrodisent.registry import Registry

#: exit status of a bad command line (argparse's own)
USAGE_STATUS = 2


def registries() -> Dict[str, Registry]:
    """The registries ``list`` shows, by the plural the command takes; importing them registers the built-ins."""
    import pyrodisent.data  # noqa: F401  (registers the datasets)
    import pyrodisent.likelihoods  # noqa: F401
    import pyrodisent.nn  # noqa: F401
    from pyrodisent.gp import KERNELS
    from pyrodisent.registry import DATASETS, LIKELIHOODS, MODELS, NETWORKS

    return {"models": MODELS, "networks": NETWORKS, "likelihoods": LIKELIHOODS, "kernels": KERNELS,
            "datasets": DATASETS}


def format_listing(kinds: Sequence[str], known: Dict[str, Registry]) -> str:
    """A section per kind: its heading, then one ``name  description`` line per entry, names aligned."""
    sections = []
    for kind in kinds:
        registry = known[kind]
        names = registry.names()
        width = max((len(name) for name in names), default=0)
        lines = [f"{kind} ({len(names)})"]
        lines += [f"  {name:<{width}}  {registry.describe(name)}".rstrip() for name in names]
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def build_parser(kinds: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyrodisent", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="registered models, networks, likelihoods, kernels and datasets")
    listing.add_argument("kinds", nargs="*", metavar="KIND", help=f"any of {', '.join(kinds)} (default: all)")
    return parser


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    known = registries()
    parser = build_parser(list(known))
    args = parser.parse_args(argv)
    unknown = [kind for kind in args.kinds if kind not in known]
    if unknown:
        parser.exit(USAGE_STATUS, f"pyrodisent list: unknown kind {unknown[0]!r}; expected any of "
                                  f"{', '.join(known)}\n")
    print(format_listing(args.kinds or list(known), known), file=out or sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The browser libraries the dashboard ships, and how they get into ``static/vendor``.

They come from the npm registry at the exact versions pinned in the repository's
``package.json`` and ``package-lock.json``; nothing is fetched at run time (plants are often
air-gapped) and no page loads from a CDN. To update them, change the versions there, then::

    npm ci --ignore-scripts        # at the repository root: fills node_modules/
    python -m andon.web.vendor     # copies the built files and licences below

A test checks that every file listed here is in ``static/vendor`` and that the versions
written in ``static/vendor/VERSIONS`` match the lock file.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from andon.web.render import STATIC

VENDOR = STATIC / "vendor"


@dataclass(frozen=True, slots=True)
class Vendored:
    """One npm package: where its files go, and which of its files (dist and licence)."""

    package: str
    folder: str
    files: tuple[str, ...]


LIBRARIES = (
    Vendored("uplot", "uplot", ("dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE")),
    Vendored("htmx.org", "htmx", ("dist/htmx.min.js", "LICENSE")),
)


def copy(node_modules: Path, target: Path = VENDOR) -> list[str]:
    """Copy every listed file from ``node_modules``; returns the ``VERSIONS`` lines written."""
    lines = []
    for lib in LIBRARIES:
        source = node_modules / lib.package
        meta = json.loads((source / "package.json").read_text(encoding="utf-8"))
        folder = target / lib.folder
        folder.mkdir(parents=True, exist_ok=True)
        for name in lib.files:
            shutil.copyfile(source / name, folder / Path(name).name)
        lines.append(f"{lib.package} {meta['version']} {meta.get('license', '?')}")
    (target / "VERSIONS").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    node_modules = Path(args[0]) if args else Path.cwd() / "node_modules"
    if not node_modules.is_dir():
        print(f"{node_modules} not found: run 'npm ci --ignore-scripts' at the repository root")
        return 1
    for line in copy(node_modules):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The `rolecall` command: a thin click layer over the library.

Commands are listed in `pipeline.cli.registry` and imported when used (`group.py`), so
that `rolecall --help` and `--version` start in a tenth of a second. Every command turns
rolecall's errors into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import click

from pipeline import __version__
from pipeline.cli.group import RolecallGroup


@click.group(cls=RolecallGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rolecall")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """rolecall: who held which AWS IAM role, with which permissions, when, and on whose behalf.

    \b
    Start with:
      rolecall demo --no-serve
      rolecall who-held --at 2026-01-05T12:00:00Z
      rolecall trace ASIA...
    """
    import logging

    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s"
    )

"""The `rolecall` command: a thin click layer over the library.

Every command turns rolecall's errors into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import logging

import click

from pipeline import __version__
from pipeline.cli.bench import bench_command
from pipeline.cli.cloudtrail import import_cloudtrail_command
from pipeline.cli.common import RolecallGroup
from pipeline.cli.dashboard import dashboard_command, replay_command, serve_command
from pipeline.cli.demo import demo_command
from pipeline.cli.evidence import digest_command, verify_command
from pipeline.cli.findings import findings_command
from pipeline.cli.investigate import session_command, trace_command, who_held_command
from pipeline.cli.materialize import materialize_command
from pipeline.cli.permissions import can_command, permissions_command, who_could_command
from pipeline.cli.policy import import_iam_command, policy_eval_command
from pipeline.cli.produce import simulate_command


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
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s"
    )


for command in (
    demo_command,
    simulate_command,
    materialize_command,
    who_held_command,
    session_command,
    trace_command,
    bench_command,
    who_could_command,
    can_command,
    permissions_command,
    policy_eval_command,
    import_iam_command,
    dashboard_command,
    serve_command,
    replay_command,
    import_cloudtrail_command,
    verify_command,
    digest_command,
    findings_command,
):
    main.add_command(command)

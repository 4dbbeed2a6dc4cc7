"""Every `rolecall` command by name: its one-line summary and where it lives.

The group lists commands from this table and imports a command's module only when that
command runs or its own help is asked, so `rolecall --help` and `--version` never load
DuckDB, pyarrow, Kafka or Dash. A test holds each summary to its command's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandEntry:
    name: str
    summary: str
    module: str
    attribute: str


COMMANDS: tuple[CommandEntry, ...] = (
    CommandEntry(
        "bench",
        "Run the benchmarks; print a table and record them in bench/results.json.",
        "pipeline.cli.bench",
        "bench_command",
    ),
    CommandEntry(
        "can",
        "Could this session do an action on a resource at a moment? "
        "Exit 0 allowed, 1 denied, 2 undecidable.",
        "pipeline.cli.permissions",
        "can_command",
    ),
    CommandEntry(
        "dashboard",
        "Serve the replay dashboard over the database (opened read-only).",
        "pipeline.cli.dashboard",
        "dashboard_command",
    ),
    CommandEntry(
        "demo",
        "Simulate an organization as CloudTrail files, import and materialize them, print an "
        "investigation summary, and serve the dashboard (unless --no-serve).",
        "pipeline.cli.demo",
        "demo_command",
    ),
    CommandEntry(
        "digest",
        "Print the chain heads (log, partition, last offset, events, head) to keep elsewhere.",
        "pipeline.cli.evidence",
        "digest_command",
    ),
    CommandEntry(
        "findings",
        "Suspicious moments found on the record, each with its evidence.",
        "pipeline.cli.findings",
        "findings_command",
    ),
    CommandEntry(
        "import-cloudtrail",
        "Import CloudTrail logs: files, .json.gz archives, JSON Lines, S3 trees, or - for stdin.",
        "pipeline.cli.cloudtrail",
        "import_cloudtrail_command",
    ),
    CommandEntry(
        "import-iam",
        "Import `aws iam get-account-authorization-details` output as policy history.",
        "pipeline.cli.policy",
        "import_iam_command",
    ),
    CommandEntry(
        "materialize",
        "Materialize the log into the DuckDB database, exactly once.",
        "pipeline.cli.materialize",
        "materialize_command",
    ),
    CommandEntry(
        "permissions",
        "The policies in force for a session at a moment, and optionally a check of an action.",
        "pipeline.cli.permissions",
        "permissions_command",
    ),
    CommandEntry(
        "pivot",
        "From one clue to what stands behind it: sessions, keys, calls over time, findings.",
        "pipeline.cli.pivot",
        "pivot_command",
    ),
    CommandEntry(
        "policy-eval",
        'Evaluate requests given as JSON Lines: one {"effect", "reason"} line out per case, '
        "in order.",
        "pipeline.cli.policy",
        "policy_eval_command",
    ),
    CommandEntry(
        "replay",
        "Replay a window in the terminal: every session start, exit, expiry and revocation.",
        "pipeline.cli.dashboard",
        "replay_command",
    ),
    CommandEntry(
        "report",
        "Compliance reports: who held a power in a period, as known at any moment, verified.",
        "pipeline.cli.report",
        "report_group",
    ),
    CommandEntry(
        "serve",
        "Keep materializing from the log and serve the dashboard, in one process.",
        "pipeline.cli.dashboard",
        "serve_command",
    ),
    CommandEntry(
        "session",
        "One session: its chain, credentials, policy, tags and recorded actions.",
        "pipeline.cli.investigate",
        "session_command",
    ),
    CommandEntry(
        "simulate",
        "Simulate an organization's role activity and put it on the log.",
        "pipeline.cli.produce",
        "simulate_command",
    ),
    CommandEntry(
        "trace",
        "Follow an access key to its session, up the chain to the human or service behind it.",
        "pipeline.cli.investigate",
        "trace_command",
    ),
    CommandEntry(
        "verify",
        "Recompute the per-partition SHA-256 chains and name the first position that disagrees.",
        "pipeline.cli.evidence",
        "verify_command",
    ),
    CommandEntry(
        "who-could",
        "Who could do an action on a resource at a moment, by the policies then in force.",
        "pipeline.cli.permissions",
        "who_could_command",
    ),
    CommandEntry(
        "who-held",
        "Who held which role at a moment, and on whose behalf.",
        "pipeline.cli.investigate",
        "who_held_command",
    ),
)

BY_NAME = {entry.name: entry for entry in COMMANDS}

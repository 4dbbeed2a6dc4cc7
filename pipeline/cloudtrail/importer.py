"""The whole import: inputs -> records -> events -> the log, with a summary."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from pipeline.cloudtrail.fields import Unmapped, is_event_name
from pipeline.cloudtrail.mapping import NOT_ROLE_RELATED, RecordMapper
from pipeline.cloudtrail.reader import (
    AUTO,
    CorruptInput,
    Lost,
    Source,
    check_paths,
    find_inputs,
    read_records,
)
from pipeline.cloudtrail.summary import ImportSummary
from pipeline.producer import Producer

# Called after each file, and every few thousand records: (summary, current file).
Progress = Callable[[ImportSummary, Source | None], None]
_PROGRESS_EVERY = 5000
# AWS event names are short words: anything else is counted under one key, so that the
# summary neither quotes input (a token where a name should be) nor grows without bound.
_OTHER_NAME = "(not an event name)"


def import_cloudtrail(
    paths: Iterable[str],
    producer: Producer,
    *,
    mapper: RecordMapper | None = None,
    on_progress: Progress | None = None,
    fmt: str = AUTO,
) -> ImportSummary:
    """Read every record under `paths`, emit its events through `producer`, and flush.

    A path that does not exist is an `InputError` before anything is read. Past that,
    nothing read is fatal: unmappable or damaged records, damaged files and inputs that
    cannot be read end up in the summary with their reasons and places, and the rest of
    the input still imports. `fmt` is "auto", "json" (documents) or "jsonl".
    """
    paths = list(paths)
    check_paths(paths)
    mapper = mapper or RecordMapper()
    summary = ImportSummary()
    inputs = find_inputs(paths)
    summary.skipped_inputs.extend(inputs.skipped)
    started = time.perf_counter()
    emitted = summary.events_emitted
    skipped = summary.skipped
    for source in inputs.files:
        try:
            for raw in read_records(source, fmt):
                summary.records_read += 1
                if isinstance(raw, Lost):
                    skipped[raw.kind] += 1
                    summary.add_lost(source.name, raw)
                    continue
                try:
                    events = mapper.map(raw)
                except Unmapped as why:
                    skipped[why.reason] += 1
                    if why.reason == NOT_ROLE_RELATED and why.detail:
                        summary.not_role_related[_event_name(why.detail)] += 1
                    continue
                except RecursionError:
                    skipped["too deeply nested"] += 1
                    continue
                summary.records_mapped += 1
                for event in events:
                    producer.emit(event)
                    emitted[event.event_type] += 1
                if on_progress is not None and summary.records_read % _PROGRESS_EVERY == 0:
                    summary.seconds = time.perf_counter() - started
                    on_progress(summary, source)
        except CorruptInput as exc:
            summary.add_corrupt(source.name, exc)
        except RecursionError:
            summary.add_corrupt(source.name, CorruptInput("JSON nested too deeply"))
        summary.files_read += 1
        summary.inferred_sessions = mapper.inferred_sessions
        summary.seconds = time.perf_counter() - started
        if on_progress is not None:
            on_progress(summary, source)
    producer.flush()
    summary.inferred_sessions = mapper.inferred_sessions
    summary.seconds = time.perf_counter() - started
    return summary


def _event_name(name: str) -> str:
    return name if is_event_name(name) else _OTHER_NAME

"""The whole import: inputs -> records -> events -> the log, with a summary.

Each input is read, mapped and encoded on its own (`import_file`), in this process or,
with `jobs` > 1, in worker processes, several small files to a task, which pack each
input's events for the log (`PackedFile`: the appending process shares the cores with
them, so it only frames); this process appends what each input gave in the inputs'
order, so the log gets the same events in the same order on every partition whatever
`jobs` is. The one thing inputs share, which temporary keys already had their session
inferred, is decided here, in that order too.
A worker also remembers the keys whose session it inferred in its earlier files, and
skips them: this process, which takes the files in order, has them already (exactly so
while an import sees at most `REMEMBER_KEYS` temporary keys; past that, either way may
emit a key's session again, the same events, which the store applies once).
"""

from __future__ import annotations

import gc
import os
import stat
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context

from pipeline.cloudtrail.damage import CorruptInput, Lost
from pipeline.cloudtrail.encoder import MessageEncoder
from pipeline.cloudtrail.fields import Unmapped, is_event_name
from pipeline.cloudtrail.mapping import NOT_ROLE_RELATED, RecordMapper
from pipeline.cloudtrail.reader import AUTO, Source, check_paths, find_inputs, read_records
from pipeline.cloudtrail.summary import LOST_LISTED, ImportSummary
from pipeline.codec import EventCodec, default_codec
from pipeline.log.packed import PackedMessages, pack
from pipeline.producer import Message, Producer

# Called after each file, and every few thousand records: (summary, current file).
Progress = Callable[[ImportSummary, Source | None], None]
_PROGRESS_EVERY = 5000
# AWS event names are short words: anything else is counted under one key, so that the
# summary neither quotes input (a token where a name should be) nor grows without bound.
_OTHER_NAME = "(not an event name)"
# Keys whose inferred session is remembered (beyond that, a key's session may be emitted
# again: the same events, which the store applies once).
REMEMBER_KEYS = 1_000_000
# A task for a worker: files up to this many bytes on disk, at most _TASK_FILES of them
# (CloudTrail delivers files of a few KB to a few MB). Small enough that the workers end
# together (the last task is one worker's alone) and that the first results come soon:
# about a second of one core's work on delivered-size files (14 files of 500 records),
# a few hundred KB of quiet accounts' small files. A larger file is read here,
# streamed, so that no worker holds a huge input's events in memory.
_TASK_BYTES = 1 << 20
_TASK_FILES = 64
_WORKER_MAX_BYTES = 16 << 20
_AHEAD = 4  # tasks in flight per worker: enough to keep them busy, memory bounded
# The cyclic collector's first generation during an import (Python's default: 700). A
# file's records live until the file is mapped, thousands of dictionaries: at 700, the
# young collections traversed them and moved them on to be traversed again. 20,000 cost
# a tenth less CPU in one process (BENCHMARKS.md); the records hold no cycles.
_YOUNG_COLLECTION = 20_000


@dataclass(frozen=True, slots=True)
class InferredMessages:
    """A key's inferred session, encoded; appended unless the key already had one."""

    key: str
    remember: bool
    messages: list[Message]


Item = Message | InferredMessages


@dataclass(slots=True)
class PackedFile:
    """A worker's events of one input, packed for the appending process (`pack`), and
    where its inferred sessions lie: `[start, end)` in `messages`, the key, whether the
    key is to be remembered. Items would cost that process a tuple an event to receive
    and a pass of Python to sort out; this, a few operations an inferred session."""

    messages: PackedMessages
    inferred: list[tuple[int, int, str, bool]]


def _packed(items: list[Item], partitions: int) -> PackedFile:
    messages: list[Message] = []
    inferred: list[tuple[int, int, str, bool]] = []
    for item in items:
        if type(item) is tuple:
            messages.append(item)
        else:
            assert isinstance(item, InferredMessages)
            start = len(messages)
            messages += item.messages
            inferred.append((start, len(messages), item.key, item.remember))
    return PackedFile(pack(messages, partitions), inferred)


@dataclass
class FileImport:
    """What one input gave, apart from its events: counts, reasons, damage."""

    name: str
    records_read: int = 0
    records_mapped: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    not_role_related: Counter[str] = field(default_factory=Counter)
    lost: list[Lost] = field(default_factory=list)  # the first LOST_LISTED
    records_lost: int = 0
    corrupt: tuple[str, int, int | None] | None = None  # (reason located, records, byte)
    cpu_seconds: float = 0.0  # a worker's CPU time for it (0 when read in this process)

    def add_lost(self, lost: Lost) -> None:
        self.records_lost += 1
        if len(self.lost) < LOST_LISTED:
            self.lost.append(lost)


def import_cloudtrail(
    paths: Iterable[str],
    producer: Producer,
    *,
    mapper: RecordMapper | None = None,
    on_progress: Progress | None = None,
    fmt: str = AUTO,
    jobs: int = 1,
) -> ImportSummary:
    """Read every record under `paths`, emit its events through `producer`, and flush.

    A path that does not exist is an `InputError` before anything is read. Past that,
    nothing read is fatal: unmappable or damaged records, damaged files and inputs that
    cannot be read end up in the summary with their reasons and places, and the rest of
    the input still imports. `fmt` is "auto", "json" (documents) or "jsonl". `jobs` > 1
    maps files in that many worker processes (the log gets the same either way).
    `mapper` gives how many keys' inferred sessions to remember (`remember_keys`); the
    import maps with mappers of its own.
    """
    paths = list(paths)
    check_paths(paths)
    with _fewer_collections():
        return _import(paths, producer, mapper, on_progress, fmt, jobs)


def _import(
    paths: list[str],
    producer: Producer,
    mapper: RecordMapper | None,
    on_progress: Progress | None,
    fmt: str,
    jobs: int,
) -> ImportSummary:
    remember = mapper._remember if mapper is not None else REMEMBER_KEYS
    summary = ImportSummary()
    inputs = find_inputs(paths)
    summary.skipped_inputs.extend(inputs.skipped)
    codec = producer.log.codec
    run = _Run(summary, producer, remember, on_progress)
    if jobs > 1 and len(inputs.files) > 1 and codec is default_codec():
        parts: Iterable[tuple[Source, Iterator[list[Item] | PackedFile], FileImport]]
        parts = _in_workers(inputs.files, fmt, jobs, remember, producer.log.pack_partitions())
    else:
        parts = _here(inputs.files, fmt, codec, remember)
    for source, chunks, part in parts:
        for items in chunks:
            run.append(items)
            run.progress(part, source, final=False)
        run.progress(part, source, final=True)
    producer.flush()
    summary.seconds = time.perf_counter() - run.started
    return summary


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """The collector's first generation at `_YOUNG_COLLECTION` for a while (left alone
    when the process chose a larger one, or turned the collector off)."""
    before = gc.get_threshold()
    if before[0] == 0 or before[0] >= _YOUNG_COLLECTION:
        yield
        return
    gc.set_threshold(_YOUNG_COLLECTION, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _start_worker() -> None:
    gc.set_threshold(_YOUNG_COLLECTION, *gc.get_threshold()[1:])


class _Run:
    """The import's side of every input: appending in order, and the summary."""

    def __init__(
        self,
        summary: ImportSummary,
        producer: Producer,
        remember: int,
        on_progress: Progress | None,
    ) -> None:
        self.summary = summary
        self.producer = producer
        self.remember = remember
        self.inferred: OrderedDict[str, None] = OrderedDict()
        self.on_progress = on_progress
        self.started = time.perf_counter()
        self._counted = FileImport("")  # what of the current input is in the summary

    def append(self, items: list[Item] | PackedFile) -> None:
        if isinstance(items, PackedFile):
            self._append_packed(items)
            return
        messages: list[Message] = []
        for item in items:
            if type(item) is tuple:
                messages.append(item)
                continue
            assert isinstance(item, InferredMessages)
            if self._first_inferred(item.key, item.remember):
                messages.extend(item.messages)
        emitted = self.summary.events_emitted
        for message in messages:
            emitted[message[2]] += 1
        self.producer.emit_encoded(messages)

    def _append_packed(self, file: PackedFile) -> None:
        dropped = [
            (start, end)
            for start, end, key, remember in file.inferred
            if not self._first_inferred(key, remember)
        ]
        packed = file.messages.without(dropped) if dropped else file.messages
        self.summary.events_emitted.update(packed.types)
        self.producer.emit_packed(packed)

    def _first_inferred(self, key: str, remember: bool) -> bool:
        """Whether this is the import's first inferred session of `key` (then appended,
        and noted when `remember`); False: the key already had one, which wins."""
        if key in self.inferred:
            return False
        if remember:
            self.inferred[key] = None
            if len(self.inferred) > self.remember:
                self.inferred.popitem(last=False)
            self.summary.inferred_sessions += 1
        return True

    def progress(self, part: FileImport, source: Source, *, final: bool) -> None:
        """Counts `part` into the summary (what is new since the last call), and reports."""
        s, done = self.summary, self._counted
        s.records_read += part.records_read - done.records_read
        s.records_mapped += part.records_mapped - done.records_mapped
        s.skipped.update(part.skipped - done.skipped)
        s.not_role_related.update(part.not_role_related - done.not_role_related)
        for lost in part.lost[len(done.lost) :]:
            if len(s.lost) < LOST_LISTED:
                s.lost.append((part.name, lost))
        s.records_lost += part.records_lost - done.records_lost
        self._counted = FileImport(
            part.name,
            part.records_read,
            part.records_mapped,
            part.skipped.copy(),
            part.not_role_related.copy(),
            list(part.lost),
            part.records_lost,
        )
        if final:
            s.worker_cpu_seconds += part.cpu_seconds
            if part.corrupt is not None:
                reason, before, byte = part.corrupt
                s.corrupt_files.append((part.name, reason))
                s.corrupt_places.append((before, byte))
            s.files_read += 1
            self._counted = FileImport("")
        s.seconds = time.perf_counter() - self.started
        if self.on_progress is not None:
            self.on_progress(s, source)


def import_file(
    source: Source,
    fmt: str,
    mapper: RecordMapper,
    encoder: MessageEncoder,
    part: FileImport,
    *,
    every: int = _PROGRESS_EVERY,
) -> Iterator[list[Item]]:
    """The encoded events of one input, `every` records' worth at a time; `part` counts.

    `mapper` remembers the keys whose session it already inferred (in this input or in
    earlier ones); the import drops a session a key already had, in the inputs' order.
    """
    items: list[Item] = []
    skipped = part.skipped
    make = encoder.message
    map_with = mapper.map_with
    try:
        for raw in read_records(source, fmt):
            part.records_read += 1
            if isinstance(raw, Lost):
                skipped[raw.kind] += 1
                part.add_lost(raw)
                continue
            try:
                events, inferred = map_with(raw, make)
            except Unmapped as why:
                skipped[why.reason] += 1
                if why.reason == NOT_ROLE_RELATED and why.detail:
                    part.not_role_related[_event_name(why.detail)] += 1
                continue
            except RecursionError:
                skipped["too deeply nested"] += 1
                continue
            part.records_mapped += 1
            items += events
            if inferred is not None:
                items.append(InferredMessages(inferred.key, inferred.remember, inferred.events))
            if part.records_read % every == 0:
                yield items
                items = []
    except CorruptInput as exc:
        part.corrupt = (exc.located(), exc.records_before, exc.byte)
    except RecursionError:
        deep = CorruptInput("JSON nested too deeply")
        part.corrupt = (deep.located(), deep.records_before, deep.byte)
    yield items


def _here(
    files: list[Source], fmt: str, codec: EventCodec, remember: int
) -> Iterator[tuple[Source, Iterator[list[Item]], FileImport]]:
    mapper = RecordMapper(remember_keys=remember)
    encoder = MessageEncoder(codec)
    for source in files:
        part = FileImport(source.name)
        yield source, import_file(source, fmt, mapper, encoder, part), part


_WORKER_MAPPER: RecordMapper | None = None  # a worker's, across its tasks
_WORKER_ENCODER: MessageEncoder | None = None


def _import_files(
    sources: list[Source], fmt: str, remember: int, partitions: int
) -> list[tuple[FileImport, PackedFile]]:
    """A worker's task: several whole inputs, each with its events packed for a log of
    `partitions` partitions."""
    global _WORKER_MAPPER, _WORKER_ENCODER
    if _WORKER_MAPPER is None or _WORKER_ENCODER is None:
        _WORKER_MAPPER = RecordMapper(remember_keys=remember)
        _WORKER_ENCODER = MessageEncoder(default_codec())
    mapper, encoder = _WORKER_MAPPER, _WORKER_ENCODER
    out = []
    for source in sources:
        started = time.process_time()
        part = FileImport(source.name)
        items = [i for chunk in import_file(source, fmt, mapper, encoder, part) for i in chunk]
        packed = _packed(items, partitions)
        part.cpu_seconds = time.process_time() - started
        out.append((part, packed))
    return out


def _tasks(files: list[Source]) -> Iterator[list[Source]]:
    """Files grouped into tasks; a file too large for a worker is a task of its own, read
    here (marked by a task of one file over the limit)."""
    task: list[Source] = []
    size = 0
    for source in files:
        bytes_ = _size(source)
        if source.path is None or bytes_ > _WORKER_MAX_BYTES:
            if task:
                yield task
            task, size = [], 0
            yield [source]
            continue
        if task and (size + bytes_ > _TASK_BYTES or len(task) >= _TASK_FILES):
            yield task
            task, size = [], 0
        task.append(source)
        size += bytes_
    if task:
        yield task


def _size(source: Source) -> int:
    """Bytes on disk; "too large for a worker" for standard input and anything that is
    not a regular file (a pipe such as `<(zcat ...)` is this process's to read)."""
    if source.path is None:
        return 1 << 62
    try:
        found = source.path.stat()
    except OSError:
        return 0  # reported as unreadable when it is opened (by a worker, as here)
    return found.st_size if stat.S_ISREG(found.st_mode) else 1 << 62


def _in_workers(
    files: list[Source], fmt: str, jobs: int, remember: int, partitions: int
) -> Iterator[tuple[Source, Iterator[list[Item] | PackedFile], FileImport]]:
    """Each input's events in order, mapped by `jobs` worker processes (and packed for
    a log of `partitions` partitions)."""
    context = get_context("forkserver")  # not fork: the caller may run threads (Kafka)
    context.set_forkserver_preload([__name__])
    encoder = MessageEncoder(default_codec())
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker) as pool:
        pending: deque[tuple[list[Source], Future[list[tuple[FileImport, PackedFile]]] | None]]
        pending = deque()
        tasks = _tasks(files)

        def submit() -> None:
            for task in tasks:
                if len(task) == 1 and _size(task[0]) > _WORKER_MAX_BYTES:
                    pending.append((task, None))  # read here, in its turn
                else:
                    submitted = pool.submit(_import_files, task, fmt, remember, partitions)
                    pending.append((task, submitted))
                if len(pending) >= jobs * _AHEAD:
                    return

        submit()
        while pending:
            task, future = pending.popleft()
            if future is None:
                source = task[0]
                part = FileImport(source.name)
                mapper = RecordMapper(remember_keys=remember)
                yield source, import_file(source, fmt, mapper, encoder, part), part
            else:
                for source, (part, packed) in zip(task, future.result(), strict=True):
                    yield source, iter([packed]), part
            submit()


def worker_count() -> int:
    """The default for `--jobs`: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _event_name(name: str) -> str:
    return name if is_event_name(name) else _OTHER_NAME

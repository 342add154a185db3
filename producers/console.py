"""The producer's command: build the source, stream it with a progress line, report what was sent."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from driftline.kafka_clients import check_kafka
from driftline.settings import Settings
from driftline.sources import Source
from producers.producer import ProduceOptions, ProduceReport, RecordProducer


def produce(settings: Settings, source: Source, options: ProduceOptions, *, quiet: bool = False) -> ProduceReport:
    """Stream ``source`` per ``options``; Ctrl-C or SIGTERM stops it cleanly, flushing what was sent."""
    console = Console(stderr=True, quiet=quiet)
    stopping = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = signal.signal(signal.SIGTERM, on_term) if threading.current_thread() is threading.main_thread() else None
    check_kafka(settings.kafka)  # a refused certificate or login: one line now, not librdkafka's retries
    producer = RecordProducer(settings.kafka)
    try:
        with Progress(
            TextColumn("[bold]producing[/] {task.fields[topic]}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f} records  {task.fields[rate]:,.0f}/s  labels {task.fields[labels]:,}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            task = bar.add_task("produce", total=options.count, topic=producer.topics.records, rate=0.0, labels=0)

            def progress(report: ProduceReport) -> None:
                bar.update(task, completed=report.records, rate=report.rate, labels=report.labels)

            report = producer.run(source, options, progress=progress, stop=stopping.is_set)
    finally:
        producer.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    console.print(
        f"sent {report.records:,} records ({report.bad_records:,} malformed on purpose) and {report.labels:,} labels "
        f"in {report.seconds:.1f}s ({report.rate:,.0f} records/s)"
        + (f"; {report.labels_pending:,} labels not yet due were not sent" if report.labels_pending else "")
    )
    return report

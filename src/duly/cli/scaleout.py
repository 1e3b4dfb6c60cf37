"""duly worker / beat: the Celery processes of a scaled-out deployment (docs/scale-out.md)."""

from __future__ import annotations

import click

from . import setup_django


def _celery(args: list[str]) -> None:
    """Run Celery's own command line on the ``duly.celery`` app (named, so this entry point does not import it)."""
    from celery.bin.celery import celery

    setup_django()
    celery.main(args=["-A", "duly.celery", *args], prog_name="duly")


@click.command()
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per CPU)")
@click.option("--beat", "-B", "with_beat", is_flag=True,
              help="Also run the beat scheduler in this worker (one such worker per deployment)")
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.option("--hostname", "-n", default=None, help="Node name (default: celery@<host>)")
@click.option("--queues", "-Q", default=None, help="Queues to consume (comma separated; default: celery)")
def worker(concurrency, with_beat, loglevel, hostname, queues):
    """Start a Celery worker: it runs the partitions of the billing, dunning, fee, autopay and outbox runs.

    Needs CELERY_BROKER_URL (Redis or RabbitMQ) and the same DATABASE_URL as the other processes; refuses to start
    unless DULY_SECRET_KEY is fit for a server. Start as many as you like, on any machine."""
    args = ["worker", "--loglevel", loglevel, "--prefetch-multiplier", "1"]
    if concurrency:
        args += ["--concurrency", str(concurrency)]
    if with_beat:
        args.append("--beat")
    if hostname:
        args += ["--hostname", hostname]
    if queues:
        args += ["--queues", queues]
    _celery(args)


@click.command()
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.option("--schedule", default=None, help="Beat's state file (default: <DULY_VAR_DIR>/celerybeat-schedule)")
def beat(loglevel, schedule):
    """Start Celery beat: it starts the cycle of periodic jobs every DULY_CYCLE_INTERVAL seconds (default 300).

    Run exactly one beat per deployment (or one `duly worker --beat`)."""
    from django.conf import settings

    setup_django()
    path = schedule or str(settings.VAR_DIR / "celerybeat-schedule")
    _celery(["beat", "--loglevel", loglevel, "--schedule", path])


COMMANDS = [worker, beat]

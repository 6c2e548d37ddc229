"""``tagpipe db ...``: commands on the database itself (``db copy`` moves an installation to another database)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from tagpipe.db.copy import CopyError, CopyReport, Listener, copy_database

app = typer.Typer(help="The database itself: copy an installation to another database.", no_args_is_help=True)
console = Console()


class RateColumn(ProgressColumn):
    """Rows per second, over rich's recent window."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:>10,.0f} rows/s" if speed else "", style="cyan")


class Bars(Listener):
    """A bar per table copied (rows copied / rows, rows/s), then one for the comparison of both sides."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.check: TaskID | None = None
        self.rows = 0

    def begin(self, phase: str, table: str, total: int, done: int) -> None:
        if phase == "copy":
            self.rows += max(total, done)
            self.task = self.progress.add_task(table, total=max(total, done), completed=done, visible=total > 0)
            return
        if self.check is None:  # both sides read again: twice the rows
            self.check = self.progress.add_task("compare", total=2 * self.rows)
        self.progress.update(self.check, description=f"compare {table}")
        self.task = self.check

    def advance(self, rows: int) -> None:
        assert self.task is not None
        self.progress.advance(self.task, rows)


@app.command("copy")
def copy(source: Annotated[str, typer.Option("--from", help="The database to copy, e.g. sqlite:///tagpipe-data/"
                                                           "tagpipe.db (at this version's schema: tagpipe migrate).")],
         target: Annotated[str, typer.Option("--to", help="An empty database, e.g. postgresql+psycopg://user:"
                                                         "password@host/tagpipe; migrated here first.")],
         batch: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 5000) -> None:
    """Copy every table of an installation to another database (SQLite or PostgreSQL), then compare both.

    Stop tagpipe first. Interrupted, the same command continues where it stopped."""
    from tagpipe.schema import metadata

    progress = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                        RateColumn(), TimeRemainingColumn(), console=console)
    try:
        with progress:
            report = copy_database(source, target, metadata, batch=batch, listener=Bars(progress))
    except CopyError as e:
        console.print(f"[red]{e}[/]")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted: what was copied is kept; run the same command again to continue.[/]")
        raise typer.Exit(130) from None
    _summary(report)
    if any(not c.equal for c in report.checks):
        console.print("[red]The target differs from the source (was tagpipe still running?). Stop it and run the "
                      "same command again: the tables that differ are copied again.[/]")
        raise typer.Exit(1)


def _summary(report: CopyReport) -> None:
    empty = [c.table for c in report.checks if not c.rows and c.equal]
    table = Table(title="tagpipe db copy" + (" (resumed)" if report.resumed else ""),
                  caption=f"empty on both sides: {', '.join(empty)}" if empty else None)
    for column in ("table", "rows", "copied now", "first key", "last key", "hash", "check"):
        table.add_column(column, justify="right" if column in ("rows", "copied now") else "left")
    for c in report.checks:
        if not c.rows and c.equal:
            continue  # an empty table on both sides
        table.add_row(c.table, f"{c.rows:,}", f"{report.copied.get(c.table, 0):,}", _key(c.first), _key(c.last),
                      c.digest, "[green]equal[/]" if c.equal else f"[red]{c.difference}[/]")
    console.print(table)
    rows = sum(report.copied.values())
    console.print(f"{rows:,} rows copied in {report.copy_seconds:.1f} s ({rows / max(report.copy_seconds, 1e-9):,.0f}"
                  f" rows/s), {sum(c.rows for c in report.checks):,} rows compared in {report.check_seconds:.1f} s.")


def _key(key: tuple[object, ...] | None) -> str:
    return "" if key is None else ", ".join(map(str, key))

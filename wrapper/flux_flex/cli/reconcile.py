"""``flux-flex reconcile``: finish what died, from a shared task journal (`flux_flex.reconcile`)."""

from __future__ import annotations

import click

from flux_flex.cli.connection import Connection, open_endpoint
from flux_flex.cli.failures import ExitCode
from flux_flex.cli.output import emit_json

__all__ = ["run_reconcile"]


def run_reconcile(
    journal: str,
    out_dir: str,
    *,
    connection: Connection,
    after: float | None,
    timeout: float,
    as_json: bool,
) -> int:
    """Reconcile ``journal`` into ``out_dir``; exit 0 when everything is settled, 1 when
    some tasks failed, still run, or stay uncertain."""
    from flux_flex.journal import Journal
    from flux_flex.recovery import reconcile

    with Journal(journal, create=False) as opened, open_endpoint(connection) as endpoint:
        with endpoint.sync_client() as client:
            report = reconcile(opened, out_dir, client=client, after=after, timeout=timeout)
        where = opened.path
    if as_json:
        emit_json(
            {
                "ok": report.ok,
                "journal": where,
                "saved": [
                    _row(s.entry.task_id, s.entry.fingerprint, path=s.path) for s in report.saved
                ],
                "failed": [
                    _row(s.entry.task_id, s.entry.fingerprint, error=s.error) for s in report.failed
                ],
                "running": [_row(s.entry.task_id, s.entry.fingerprint) for s in report.running],
                "uncertain": [
                    {"name": u.entry.fingerprint, "prompt": u.entry.prompt, "command": u.command}
                    for u in report.uncertain
                ],
            }
        )
        return ExitCode.OK if report.ok else ExitCode.FAILED
    for item in report.saved:
        click.echo(f"saved   {item.entry.task_id} -> {item.path}")
    for item in report.failed:
        click.echo(f"failed  {item.entry.task_id}: {item.error}")
    for item in report.running:
        click.echo(f"running {item.entry.task_id} (not final yet: run reconcile again later)")
    for uncertain in report.uncertain:
        click.echo(
            f"uncertain {uncertain.entry.prompt!r}: sent, never answered (a task may exist and "
            f"be billed). Check your tasks; to send it again anyway: {uncertain.command}"
        )
    summary = (
        f"{len(report.saved)} saved, {len(report.failed)} failed, {len(report.running)} "
        f"running, {len(report.uncertain)} uncertain (journal {where})"
    )
    click.echo(summary, err=not report.ok)
    return ExitCode.OK if report.ok else ExitCode.FAILED


def _row(task_id: str | None, name: str, **extra: object) -> dict[str, object]:
    return {"id": task_id, "name": name, **extra}

"""The supervisor's decisions as tables: the back-off before each restart, and when a child counts as crash-looping."""

from __future__ import annotations

import pytest

from tagpipe.supervisor.policy import Record, after_exit, after_restart, classify, restart_backoff, settle

# (run lengths in seconds of the successive runs, each ending in a death) -> expected nominal waits before each restart
SCHEDULES = [
    ([1.0], [0.5]),
    ([1.0, 1.0, 1.0, 1.0], [0.5, 1.0, 2.0, 4.0]),
    ([0.1] * 9, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]),  # capped, never given up
    ([1.0, 1.0, 600.0, 1.0], [0.5, 1.0, 0.5, 1.0]),  # a long run starts the back-off over
    ([10.0, 10.0], [0.5, 0.5]),  # exactly STABLE_S is stable
]


@pytest.mark.parametrize(("runs", "waits"), SCHEDULES)
def test_the_wait_before_each_restart(runs: list[float], waits: list[float]) -> None:
    record = Record()
    for ran_s, nominal in zip(runs, waits, strict=True):
        record = after_exit(record, ran_s=ran_s, exit_code=1)
        backoff = restart_backoff(record)
        backoff.jitter = 0.0
        assert backoff.delay() == nominal
        for _ in range(50):  # the jitter keeps copies of a crashing child from restarting in step
            assert nominal * 0.8 <= restart_backoff(record).delay() <= nominal * 1.2
        record = after_restart(record)
    assert record.restarts == len(runs)


# (runs, still running for, expected state, expected failures)
STATES = [
    ([], 0.0, "running", 0),
    ([1.0], None, "restarting", 1),
    ([1.0, 1.0], None, "restarting", 2),
    ([1.0, 1.0, 1.0], None, "crash-looping", 3),
    ([1.0, 1.0, 1.0], 2.0, "crash-looping", 3),  # running again, but not yet for long: still reported
    ([1.0, 1.0, 1.0], 10.0, "running", 0),  # a run of STABLE_S clears it
    ([3600.0, 1.0, 1.0], None, "crash-looping", 3),  # a death after a long run is the first of a new series
    ([3600.0, 3600.0, 3600.0], None, "restarting", 1),  # dying once a day is not crash-looping
]


@pytest.mark.parametrize(("runs", "running_s", "state", "failures"), STATES)
def test_crash_loop_classification(runs: list[float], running_s: float | None, state: str, failures: int) -> None:
    record = Record()
    for ran_s in runs:
        record = after_restart(after_exit(record, ran_s=ran_s, exit_code=3))
    if running_s is not None:
        record = settle(record, running_s=running_s)
    assert classify(record, running=running_s is not None) == state
    assert record.failures == failures
    assert record.last_exit_code == (3 if runs else None)


def test_a_stopping_supervisor_reports_stopped_whatever_the_record() -> None:
    assert classify(Record(failures=5), running=False, stopped=True) == "stopped"

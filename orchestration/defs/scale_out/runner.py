"""Run the regional job and read back where and when each region's steps ran; start Celery workers.
Used by tests/integration/test_celery_regions.py, benchmarks/celery_regions.py and by hand
(`python -m orchestration.defs.scale_out --help`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

WORKER_APP = "orchestration.defs.scale_out.worker"


@dataclass(frozen=True)
class RegionStep:
    region: str
    stage: str  # ingest, warehouse, export
    host: str
    pid: int
    started_at: float
    finished_at: float
    metadata: dict


@dataclass(frozen=True)
class RegionalRun:
    run_id: str
    success: bool
    seconds: float
    steps: list[RegionStep]
    celery_workers: dict[str, str] = field(default_factory=dict)  # step key → the Celery worker that ran it
    failed_steps: list[str] = field(default_factory=list)

    def span(self, region: str) -> tuple[float, float]:
        """When the region's first step started and its last one finished."""
        mine = [s for s in self.steps if s.region == region]
        return min(s.started_at for s in mine), max(s.finished_at for s in mine)


def run_config(regions: list[str], platforms: dict | None = None, month: str | None = None) -> dict:
    return {
        "ops": {"regions_to_build": {"config": {"regions": regions}}, "export_region": {"config": {"month": month}}},
        "resources": {"regional_platforms": {"config": platforms or {}}},
    }


def run_regions(
    regions: list[str],
    *,
    executor: str,
    instance,
    platforms: dict | None = None,
    month: str | None = None,
) -> RegionalRun:
    """Run `regional_platforms_job` for `regions`: `executor="celery"` sends its steps to the Celery workers
    (the job's own executor; the instance must be persistent and reachable by the workers), `"in_process"`
    runs them one after the other in this process."""
    import dagster as dg

    from .jobs import regional_platforms_job

    config = run_config(regions, platforms, month)
    t0 = time.perf_counter()
    if executor == "celery":
        with dg.execute_job(
            dg.reconstructable(regional_platforms_job), instance=instance, run_config=config, raise_on_error=False
        ) as result:
            run_id, success = result.run_id, result.success
    elif executor == "in_process":
        result = regional_platforms_job.execute_in_process(instance=instance, run_config=config, raise_on_error=False)
        run_id, success = result.run_id, result.success
    else:
        raise ValueError(f"executor must be celery or in_process, not {executor!r}")
    seconds = time.perf_counter() - t0
    return read_run(instance, run_id, success, seconds)


def read_run(instance, run_id: str, success: bool, seconds: float) -> RegionalRun:
    steps: list[RegionStep] = []
    workers: dict[str, str] = {}
    failed: list[str] = []
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None:
            continue
        if ev.event_type_value == "ASSET_MATERIALIZATION":
            mat = ev.event_specific_data.materialization
            if mat.asset_key.path[0] != "regional":
                continue
            md = {k: getattr(v, "value", v) for k, v in (mat.metadata or {}).items()}
            steps.append(
                RegionStep(
                    region=mat.partition,
                    stage=mat.asset_key.path[-1],
                    host=md["host"],
                    pid=int(md["pid"]),
                    started_at=float(md["started_at"]),
                    finished_at=float(md["finished_at"]),
                    metadata=md,
                )
            )
        elif ev.event_type_value == "ENGINE_EVENT" and ev.step_key:
            md = getattr(ev.event_specific_data, "metadata", None) or {}
            if "Celery worker" in md:
                workers[ev.step_key] = getattr(md["Celery worker"], "value", md["Celery worker"])
        elif ev.event_type_value == "STEP_FAILURE":
            failed.append(ev.step_key)
    return RegionalRun(run_id, success, seconds, steps, workers, failed)


def start_worker(
    *, concurrency: int, env: dict[str, str], name: str = "iem-regions", log_file: Path | None = None, cwd=None
) -> subprocess.Popen:
    """A Celery worker of the regional job (`celery -A orchestration.defs.scale_out.worker worker`) with
    `concurrency` processes, started in the background; returns once it listens on its queue."""
    import tempfile

    log_file = Path(log_file or Path(tempfile.gettempdir()) / f"{name}-{os.getpid()}.log")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_file, "w")  # noqa: SIM115 - handed to the worker process, which outlives this call
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            WORKER_APP,
            "worker",
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--hostname",
            f"{name}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=cwd,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log_file.read_text(errors="replace")
        if " ready." in text:
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    stop_worker(proc)
    raise RuntimeError(f"the Celery worker did not start: {log_file.read_text(errors='replace')[-3000:]}")


def stop_worker(proc: subprocess.Popen, timeout: float = 30, *, warm: bool = True) -> None:
    """Warm shutdown (SIGTERM: the current tasks finish first), or cold (SIGQUIT: at once, for a worker
    whose runs are over); killed if it has not stopped after `timeout` seconds."""
    import signal

    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM if warm else signal.SIGQUIT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def broker_reachable(url: str, timeout: float = 3.0) -> str | None:
    """None when the broker answers, else why not."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any failure means: not reachable, say why
        return f"{type(exc).__name__}: {exc}"
    return None


def delete_queue(url: str, queue: str) -> None:
    """Remove a queue from the broker (a test's own queue, once its worker has stopped)."""
    from kombu import Connection

    with Connection(url, connect_timeout=3) as conn:
        conn.default_channel.queue_delete(queue)


def dagster_home_on_postgres(home: Path, storage_url_env: str = "IEM_DAGSTER_STORAGE_URL") -> Path:
    """A Dagster home whose run, event-log and schedule storage is PostgreSQL (dagster-postgres), read from
    the environment variable `storage_url_env` by every process that opens it (the run process, each
    Celery worker on any host): a SQLAlchemy URL with the psycopg2 driver,
    postgresql+psycopg2://user@host:5432/dagster."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url:\n      env: {storage_url_env}\ntelemetry:\n  enabled: false\n",
        encoding="utf-8",
    )
    return home


def storage_url(libpq_url: str) -> str:
    """The SQLAlchemy URL dagster-postgres needs for a libpq URI (SQLAlchemy 2.1 reads a bare postgresql://
    as psycopg 3, whose placeholders dagster-postgres's NOTIFY does not accept)."""
    return libpq_url.replace("postgresql://", "postgresql+psycopg2://", 1)

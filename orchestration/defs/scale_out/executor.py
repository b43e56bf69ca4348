"""The Celery executor of the regional job (dagster-celery on RabbitMQ), configured from the environment.

IEM_CELERY_BROKER_URL   the broker, e.g. pyamqp://guest@127.0.0.1//  (required: no broker is assumed)
IEM_CELERY_BACKEND      the result backend (default rpc://, answers travel over the broker)
IEM_CELERY_QUEUE        the queue the steps are sent to and the workers listen on (default `dagster`)

Run config (`execution: config: {broker: ..., backend: ..., queue: ...}`) overrides each of them. The
broker URL may carry a password: keep it in the environment of the run process and of the workers, never
in run config (which is stored with the run)."""

from __future__ import annotations

import os

import dagster as dg
from dagster._core.execution.retries import RetryMode, get_retries_config

DEFAULT_QUEUE = "dagster"  # the queue dagster-celery's own workers listen on


def celery_settings(broker: str | None = None, backend: str | None = None, queue: str | None = None) -> dict:
    """broker, backend and queue: explicit values, else the environment (see the module's text)."""
    broker = broker or os.environ.get("IEM_CELERY_BROKER_URL")
    if not broker:
        raise dg.DagsterInvariantViolationError(
            "the Celery executor needs a broker: set IEM_CELERY_BROKER_URL (e.g. pyamqp://guest@127.0.0.1//)"
        )
    return {
        "broker": broker,
        "backend": backend or os.environ.get("IEM_CELERY_BACKEND") or "rpc://",
        "queue": queue or os.environ.get("IEM_CELERY_QUEUE") or DEFAULT_QUEUE,
    }


def make_celery_executor(settings: dict, retries: RetryMode):
    from dagster_celery.executor import CeleryExecutor

    # the executor sends each step to the app's default queue (a step may name another with the
    # dagster-celery/queue tag); the workers of this deployment are started with `-Q <queue>`
    return CeleryExecutor(
        retries=retries,
        broker=settings["broker"],
        backend=settings["backend"],
        config_source={"task_default_queue": settings["queue"]},
    )


@dg.executor(
    name="iem_celery",
    config_schema={
        name: dg.Field(dg.Noneable(dg.StringSource), is_required=False, description=f"default {env}")
        for name, env in (
            ("broker", "IEM_CELERY_BROKER_URL"),
            ("backend", "IEM_CELERY_BACKEND"),
            ("queue", "IEM_CELERY_QUEUE"),
        )
    }
    | {
        "retries": get_retries_config(),
    },
    requirements=dg.multiple_process_executor_requirements(),
)
def iem_celery_executor(init_context):
    """dagster-celery's executor with broker, backend and queue from the environment."""
    cfg = init_context.executor_config
    settings = celery_settings(cfg.get("broker"), cfg.get("backend"), cfg.get("queue"))
    return make_celery_executor(settings, RetryMode.from_config(cfg["retries"]))

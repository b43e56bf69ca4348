"""The Celery app a worker host runs: `celery -A orchestration.defs.scale_out.worker worker -Q <queue> -c <n>`
(docs/scale-out.md). Broker, backend and queue come from the same environment variables as the executor's
(orchestration/defs/scale_out/executor.py), so the workers and the runs that send them steps agree.

Each task executes one step of a run: it loads the job from its code pointer (this repository's
`orchestration` package must be importable on the worker host), reads the run from the Dagster instance
named in the task (its storage must be reachable from every worker host: PostgreSQL through
dagster-postgres), and writes the step's events there."""

from __future__ import annotations

from dagster._core.execution.retries import RetryMode
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task
from kombu import Queue

from .executor import celery_settings, make_celery_executor

settings = celery_settings()
app = make_app(make_celery_executor(settings, RetryMode(RetryMode.DISABLED)).app_args())
app.conf.task_default_queue = settings["queue"]
# the worker listens on the deployment's queue (dagster-celery's app listens on `dagster` only)
app.conf.task_queues = [
    Queue(settings["queue"], routing_key=f"{settings['queue']}.#", queue_arguments={"x-max-priority": 10})
]
# one step at a time per worker process: a region's build takes minutes; prefetching would hold a second
# region's step in a busy process while another process is idle
app.conf.worker_prefetch_multiplier = 1
app.conf.task_acks_late = True

execute_plan = create_task(app)

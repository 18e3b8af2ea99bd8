"""Worker side of the pipeline: the RQ job that runs one task row with the engine in `jobs/`.

Cut as rq cuts its worker, one module a part:
- run: the job itself (`run_task`), its failure callback, and the lease that shows it is alive;
- progress: what a running task reports into `job.meta`, and its cancellation;
- recovery: tasks whose worker died, or whose job vanished from Redis;
- reuse: the input key of a task, and taking an identical earlier task's outputs;
- outputs: the scratch folder a runner writes in, and publishing its files on the item.
The runners themselves live with their kinds, in webapp/kinds/.

Nothing is imported here, so a kind's module can use `outputs` without loading the rest.
"""


def __getattr__(name: str):
    # Jobs queued before the split name their function "webapp.tasks.run_task" (RQ imports it by
    # that dotted name): they still run after an upgrade.
    if name in ("run_task", "on_task_failure"):
        from webapp.tasks import run

        return getattr(run, name)
    raise AttributeError(name)

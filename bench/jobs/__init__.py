"""Independent jobs (commands), run in a local pool of processes or as tasks on a Ray cluster.

A job is a command run from the checkout root with its own folder, root/<name>; the text
"{log_dir}" in its arguments (and in its extra environment values) becomes that folder on the
machine that runs it. When a job ends, its folder receives `job.json` (the JobResult and the
command) and the command's `job_stdout.txt` / `job_stderr.txt`. A job whose `job.json` says ok
is finished: a later `run_jobs` over the same root skips it (attempts 0). A failed attempt
(non-zero exit, timeout, lost node) is retried, in the folder as that attempt left it (so a
command given `--resume` continues from its checkpoint), up to `max_retries` times; then the
job is reported with ok False. Nothing is dropped: every job gets a JobResult, in job order.

On Ray (`ray_address`: "auto" or an address; the optional extra `ray`), each attempt is a Ray
task asking for `job.cpus` CPUs. The task runs the command in a temporary folder on its node
(first filled with what root/<name> already holds, as a tar archive), and sends the folder back
to the driver as a tar archive, unpacked into root/<name>. The command's working directory on
the node is the driver's checkout path (ROOT): every node of a real cluster must hold the same
checkout, with the same Python environment, at the same path (no runtime_env working_dir: the
commands also need the virtualenv and the data beside the checkout, which a working_dir upload
would not carry). The command's environment there is the node's plus job.env (the driver's
variables do not travel), and "{log_dir}" is the node's temporary folder. Ray itself retries a
task whose worker or node dies (bench.jobs.ray_pool.RAY_TASK_RETRIES times); our own retries then
cover failed exits and tasks Ray gave up on. Ctrl-C on the driver cancels the tasks, which
kill their commands' process groups.
"""

from bench.jobs.grid import finished, run_jobs
from bench.jobs.job import LOG_DIR, MARKER, ROOT, GridError, Job, JobResult

__all__ = ["LOG_DIR", "MARKER", "ROOT", "GridError", "Job", "JobResult", "finished", "run_jobs"]

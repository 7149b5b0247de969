from . import test_sync_jobs
from . import test_job_runners

"""alpha's jobs: discovered only with ``modules=["jobs"]``."""

from qtasks import Router, shared_task
from tests.django_project import project

project.imports.append(__name__)


@shared_task("djdisc.alpha.jobs.shared")
def alpha_jobs_shared() -> str:
    return "shared job"


router = Router()


@router.task("djdisc.alpha.jobs.routed")
def alpha_jobs_routed() -> str:
    return "routed job"

"""beta's jobs: a package; its tasks are declared here and in ``reports``."""

from qtasks import Router
from tests.django_project import project

from . import reports

project.imports.append(__name__)

router = Router()


@router.task("djdisc.beta.jobs.nightly")
def nightly() -> str:
    return "nightly"


__all__ = ["nightly", "reports"]

"""A submodule of beta's ``jobs`` package, imported by the package."""

from qtasks import Router

router = Router()


@router.task("djdisc.beta.jobs.report")
def report() -> str:
    return "report"

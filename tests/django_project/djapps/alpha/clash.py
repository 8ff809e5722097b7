"""A router task whose name the test has already given to another task."""

from qtasks import Router

router = Router()


@router.task("djdisc.clash")
def clashing() -> str:
    return "from alpha.clash"

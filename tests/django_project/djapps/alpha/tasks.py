"""alpha's tasks: a shared task, a router, the project's app, and an app of its own."""

from qtasks import QueueTasks, Router, shared_task
from tests.django_project import project

project.imports.append(__name__)


@shared_task("djdisc.alpha.shared")
def alpha_shared(x: int) -> int:
    return x * 2


router = Router()


@router.task("djdisc.alpha.routed")
def alpha_routed(a: int, b: int) -> int:
    return a + b


@project.app.task("djdisc.alpha.on_project")
def alpha_on_project() -> str:
    return "project"


#: Another QueueTasks created in the tasks module, as QTasks' own Django example does.
own_app = QueueTasks(name="djdisc-alpha-own", broker_url="memory://djdisc-alpha-own")


@own_app.task("djdisc.alpha.on_own_app")
def alpha_on_own_app() -> str:
    return "own"

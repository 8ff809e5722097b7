"""beta's tasks, async flavour."""

import qtasks.asyncio
from qtasks import AsyncRouter, shared_task
from tests.django_project import project

project.imports.append(__name__)


@shared_task("djdisc.beta.shared", awaiting=True)
async def beta_shared() -> str:
    return "beta shared"


router = AsyncRouter()


@router.task("djdisc.beta.routed")
async def beta_routed(word: str) -> str:
    return word.upper()


own_app = qtasks.asyncio.QueueTasks(name="djdisc-beta-own", broker_url="memory://djdisc-beta-own")


@own_app.task("djdisc.beta.on_own_app")
async def beta_on_own_app() -> str:
    return "beta own"

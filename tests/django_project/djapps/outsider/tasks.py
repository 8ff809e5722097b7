from qtasks import Router

router = Router()


@router.task("djdisc.outsider.task")
def outsider() -> str:
    return "outsider"

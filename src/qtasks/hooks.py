"""The public path of the hook chain: ``from qtasks.hooks import Hook, Run, EnqueueCall``.

See :mod:`qtasks.core.hooks` for the hook points, their order and what a hook may change;
``app.add_hook(MyHook())`` adds one to an app.
"""

from qtasks.core.errors import HookError
from qtasks.core.hooks import (
    DEFAULT_ORDER,
    CallNext,
    EnqueueCall,
    Hook,
    HookChain,
    Run,
    TaskChain,
)

__all__ = [
    "DEFAULT_ORDER",
    "CallNext",
    "EnqueueCall",
    "Hook",
    "HookChain",
    "HookError",
    "Run",
    "TaskChain",
]

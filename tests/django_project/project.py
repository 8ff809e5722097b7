"""The project's own app (``myproject/qtasks_app.py`` in a real project).

Tasks modules of the installed applications declare tasks on it with ``@app.task``;
``imports`` records each execution of a tasks module, to check each runs once.
"""

from qtasks import QueueTasks

app = QueueTasks(name="djdisc-project", broker_url="memory://djdisc-project")

imports: list[str] = []

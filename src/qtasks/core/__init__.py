"""The pure core: messages, task definitions, statuses, records, errors, retry math.

Nothing here does I/O or imports another part of the package; every other
layer speaks these types.
"""

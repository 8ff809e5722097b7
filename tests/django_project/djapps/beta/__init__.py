"""beta: async flavours (AsyncRouter, ``qtasks.asyncio`` app, awaiting shared task), and a
``jobs`` package whose tasks live in its submodules."""

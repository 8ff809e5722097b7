"""Transports, one module each, chosen by URL scheme (see :mod:`qtasks.brokers.urls`)."""

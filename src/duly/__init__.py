"""Duly: get invoices paid on time."""

__version__ = "0.1.0"

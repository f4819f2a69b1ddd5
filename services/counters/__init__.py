"""Counters over time (#17): the supervised CountersService (service.py)."""

from services.counters.service import CountersService

__all__ = ["CountersService"]

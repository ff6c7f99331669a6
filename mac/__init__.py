"""Wallaroo's ``mac`` interfaces for BYOP and Python-step code, as joey runs them.

A thin re-export, no logic: every name comes from ``joey.runtimes.byop``, so code built and
tested locally against ``mac`` uses the very classes joey's replicas load it with.
"""

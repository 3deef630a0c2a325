"""Checks: pure functions from results to findings."""

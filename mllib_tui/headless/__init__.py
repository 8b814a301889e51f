"""Headless mode: ``output`` owns stdout (results), ``diagnostics`` owns stderr and exit codes."""

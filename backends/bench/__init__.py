"""The bench stage: the benchmark protocol (``protocol``, numpy only: boards run it too), typed
result rows (``rows``), and runs on this machine or on boards."""

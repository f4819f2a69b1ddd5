"""Parsing use cases: when channels run (jobs.py), the run queue and worker (worker.py),
what a failure leads to (policy.py), fetching and writing one channel (ingest.py), and
what the bot's /parse and /status call (service.py)."""

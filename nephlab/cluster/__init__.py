"""Execution of tasks: sweeps, Dask clusters, dask-jobqueue profiles and batch jobs."""

"""The data engine: readers, steps, pipelines, executors, lineage."""

"""Apache Beam adapters around cpt_core: the code miner and, next, the text miner.

Each job is a few composite PTransforms whose per-element work is a pure cpt_core function, so
the same job runs on the local Python runner, Dask, Dataflow, Flink or Spark by pipeline options
alone (tests/test_beam_dask.py runs both jobs on a real Dask cluster).
"""

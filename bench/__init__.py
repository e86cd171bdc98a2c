"""lkmon benchmarks: ``python -m bench [--quick] [NAME...]``.

Each benchmark is a module ``bench/<name>.py`` with ``run(quick: bool) -> None`` that reports its
figures with ``bench.common.figure``. Benchmarks are not timed tests; CI only runs them with
``--quick`` to check that they run to the end.
"""

"""The demos: scripts over the library that train small networks and draw their IB and GIB
information planes (``gib-kernels demo``).

- ``tasks``: the task table, one entry per network: the 12-bit MLP in tanh and in ReLU, the
  CNN on the 8x8 digits, the Transformer on matching tokens;
- ``train``: one training loop for all of them, tracking the layers with
  ``gib_kernels.tracking.InformationTracker`` and measuring the accuracy under attack;
- ``summary``: the compression verdicts and the robustness correlations;
- ``run``: the whole demos, writing the records, the figures and ``summary.txt``.

>>> from gib_kernels.demos import run_demo, run_wide_demo
>>> result = run_demo("gib-demo", epochs=300)
>>> wide = run_wide_demo("cnn", "gib-demo-cnn")
"""
from .run import (DEFAULT_EPOCHS, DEFAULT_POINTS, FULL_EPOCHS, FULL_POINTS, DemoResult,
                  WideDemoResult, run_demo, run_wide_demo)
from .summary import (MIN_RELATIVE_DROP, Compression, compression, robustness_correlations,
                      saturation_lines, summarize, summarize_wide)
from .tasks import TASKS, Task, TokenTransformer, build_cnn, build_network, build_transformer
from .train import TaskRun, train_and_track, train_and_track_task

__all__ = ["DEFAULT_EPOCHS", "DEFAULT_POINTS", "FULL_EPOCHS", "FULL_POINTS", "MIN_RELATIVE_DROP",
           "TASKS", "Compression", "DemoResult", "Task", "TaskRun", "TokenTransformer",
           "WideDemoResult", "build_cnn", "build_network", "build_transformer", "compression",
           "robustness_correlations", "run_demo", "run_wide_demo", "saturation_lines",
           "summarize", "summarize_wide", "train_and_track", "train_and_track_task"]

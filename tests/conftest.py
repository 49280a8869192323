"""Test-wide setup, applied before pytest imports any test module.

- Keras (the reference implementation) must run on its torch backend; the backend is chosen
  once, when keras is first imported.
- Sleeping OpenMP threads: tests start training subprocesses (resume, 2-rank torchrun) on a
  2-core machine, where spinning idle threads made a step 30-70x slower. This must be set
  before torch loads its OpenMP runtime; subprocesses inherit it. An explicit setting wins.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

"""Test-wide setup: Keras (the reference implementation) must run on its torch backend.

The backend is chosen once, when keras is first imported, so it is set here, before pytest
imports any test module.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

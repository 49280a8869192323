"""Shared test setup."""

import os

# As the package does on import (see mobilenets/__init__.py), but before any test module can
# import torch first: sleeping OpenMP threads keep a shared 2-core machine usable.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

"""nginx-502lint: find the nginx settings that turn into 502 and 504 errors."""
from __future__ import annotations

__version__ = "0.1.0"

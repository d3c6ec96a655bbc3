from __future__ import annotations

import sys
from pathlib import Path

# Test helpers (rule_fixtures, nginx_tools) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

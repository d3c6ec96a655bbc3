"""Where the time goes inside one lint run: load, model, and every rule (JSON on stdout).

    python benchmarks/phases.py nginx.conf
"""
from __future__ import annotations

import json
import sys
import time


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = clock()
    return {"wall": wall - start[0], "cpu": cpu - start[1]}


def main() -> int:
    start = clock()
    from nginx_502lint.engine import LintSettings, Registry, run_rules
    from nginx_502lint.lint import Input, load_inputs
    from nginx_502lint.model import Model
    from nginx_502lint.parse import gc_paused

    registry = Registry.default()
    settings = LintSettings()
    for rule_id in registry.ids():
        registry.get(rule_id)
    phases = {"import": since(start)}
    start = clock()
    [config] = load_inputs([Input(sys.argv[1])], settings)
    phases["load"] = since(start)
    start = clock()
    model = Model(config, settings.nginx_version)
    phases["model"] = since(start)
    rules: dict[str, dict[str, float]] = {}
    with gc_paused():  # as batch.check_config runs them
        for rule_id in registry.ids():
            start = clock()
            found = run_rules(registry, [rule_id], model, settings)
            rules[rule_id] = {**since(start), "findings": len(found)}
    json.dump({"phases": phases, "rules": rules}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

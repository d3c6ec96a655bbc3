"""Benchmark nginx-502lint against crossplane's bare parse, side by side, as whole processes.

    python benchmarks/run.py                  # 1, 2.5, 10, 50 MB trees; results into benchmarks/README.md
    python benchmarks/run.py --quick          # 1 and 2.5 MB, fewer repeats
    python benchmarks/run.py --sizes 2.5 --repeat 5 --no-write

Every measurement is a separate process (wall time, user+sys CPU time and
peak RSS from wait4), repeated; the best wall and CPU times and the highest
peak RSS are reported. CPU time is the fairer ratio on a busy machine (other
processes stretch wall time, not CPU time). Child processes run without
PYTHONDONTWRITEBYTECODE, after an untimed warm-up run, so imports load cached
bytecode as they do for users.

Compared on the same generated tree (benchmarks/generate.py):
* crossplane: benchmarks/crossplane_parse.py, crossplane.parse with our adapter's flags, following includes;
* nginx-502lint (the CLI) cold; cold and warm (result cache) through the library API (benchmarks/lint_api.py)
  until the CLI has --cache-dir;
* gixy-ng, if installed in its own venv (--gixy, default /tmp/gixy-venv/bin/gixy; never in ours: it
  replaces the crossplane package), and nginx -t for reference.
Also: import time (-X importtime), the Debian default config against the interpreter's own start-up,
the time inside one run (load, model, each rule; benchmarks/phases.py), and -j on many small files.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
DEBIAN = Path(os.environ.get("NGINX_502LINT_CORPUS", REPO.parent / "shared" / "corpus" / "clean")) / "debian-nginx-1.22-defaults" / "nginx.conf"
README = HERE / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
PY = sys.executable

sys.path.insert(0, str(HERE))
from generate import generate  # noqa: E402


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mb: float
    code: int
    finished: bool = True


@dataclass
class Measured:
    label: str
    samples: list[Sample]

    @property
    def wall(self) -> float:
        return min(s.wall for s in self.samples)

    @property
    def cpu(self) -> float:
        return min(s.cpu for s in self.samples)

    @property
    def wall_median(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def rss(self) -> float:
        return max(s.rss_mb for s in self.samples)

    @property
    def finished(self) -> bool:
        return all(s.finished for s in self.samples)

    @property
    def codes(self) -> set[int]:
        return {s.code for s in self.samples}

    def text(self) -> str:
        if not self.finished:
            return f"did not finish in {self.wall:.0f} s"
        # Runs that ended differently (say, a rule file being edited at that moment) are not comparable.
        warning = f" ⚠ exits {sorted(self.codes)}" if len(self.codes) > 1 else ""
        return f"{self.wall:.2f} s ({self.cpu:.2f} CPU){warning}"


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["NO_COLOR"] = "1"
    return env


TIMEOUT = 900.0


def run_once(cmd: list[str], cwd: Path, timeout: float | None = None) -> Sample:
    timeout = timeout or TIMEOUT
    started = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=cwd, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            process.kill()
            pid, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, -9, finished=False)
        time.sleep(0.002)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode)


def measure(label: str, cmd: list[str], cwd: Path, repeat: int, warmup: bool = True) -> Measured:
    if warmup:
        first = run_once(cmd, cwd)
        if not first.finished:
            print(f"  {label:<34} did not finish in {first.wall:.0f} s", flush=True)
            return Measured(label, [first])
    samples = [run_once(cmd, cwd) for _ in range(repeat)]
    print(f"  {label:<34} wall {min(s.wall for s in samples):7.3f}s  cpu {min(s.cpu for s in samples):7.3f}s  "
          f"rss {max(s.rss_mb for s in samples):7.1f} MB  exit {samples[-1].code}", flush=True)
    return Measured(label, samples)


def measure_interleaved(commands: dict[str, tuple[str, list[str]]], cwd: Path, repeat: int,
                        warmup: bool = True) -> dict[str, Measured]:
    """Run the commands in turns (a, b, c, a, b, c, ...) so a slow spell of the machine
    hits all of them alike; a command that does not finish is not run again."""
    samples: dict[str, list[Sample]] = {key: [] for key in commands}
    for key, (label, cmd) in commands.items():
        if warmup:
            first = run_once(cmd, cwd)
            if not first.finished:
                samples[key].append(first)
    for _ in range(repeat):
        for key, (label, cmd) in commands.items():
            if not samples[key] or samples[key][-1].finished:
                samples[key].append(run_once(cmd, cwd))
    measured = {}
    for key, (label, _) in commands.items():
        m = measured[key] = Measured(label, samples[key])
        state = (f"wall {m.wall:7.3f}s  cpu {m.cpu:7.3f}s  rss {m.rss:7.1f} MB  exit {sorted(m.codes)}" if m.finished
                 else f"did not finish in {m.wall:.0f} s")
        print(f"  {label:<38} {state}", flush=True)
    return measured


def lint_cli() -> list[str]:
    script = shutil.which("nginx-502lint")
    return [script] if script else [PY, "-m", "nginx_502lint"]


def cli_has(flag: str) -> bool:
    result = subprocess.run([*lint_cli(), "--help"], capture_output=True, text=True, env=child_env())
    return flag in result.stdout


# --- trees -------------------------------------------------------------------------------

def tree(size: float) -> tuple[Path, dict[str, float]]:
    folder = OUT / f"tree-{size:g}mb"
    stamp = folder / ".stats.json"
    if stamp.is_file():
        return folder, json.loads(stamp.read_text())
    stats = generate(folder, size)
    facts = {"files": stats.files, "mb": stats.bytes / 1e6, "lines": stats.lines, "servers": stats.servers}
    stamp.write_text(json.dumps(facts))
    return folder, facts


def nginx_accepts(folder: Path) -> str:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        return "nginx not installed"
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run([nginx, "-t", "-q", "-p", str(folder), "-c", str(folder / "nginx.conf"),
                                 "-e", f"{scratch}/error.log", "-g", f"pid {scratch}/nginx.pid;"],
                                capture_output=True, text=True)
    return "passes nginx -t" if result.returncode == 0 else f"nginx -t FAILED: {result.stderr.strip()[:200]}"


# --- sections ------------------------------------------------------------------------------

def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0") if Path("/proc/meminfo").exists() else "0"
    crossplane = subprocess.run([PY, "-c", "import importlib.metadata as m; print(m.version('crossplane'))"],
                                capture_output=True, text=True).stdout.strip()
    return [
        f"* Machine: {cpu}, {os.cpu_count()} CPUs, {int(memory) // 1024} MiB RAM, {platform.system()} {platform.release()}",
        f"* Python {platform.python_version()} ({PY}); crossplane {crossplane}",
        f"* Load average when the run started: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
        "(other work on the machine stretches wall times; CPU times are steadier)",
        "* Child processes run with PYTHONDONTWRITEBYTECODE unset, after one untimed warm-up run "
        "(this sandbox sets it, which would recompile every import from source)",
    ]


Row = tuple[dict[str, float], dict[str, Measured]]


def size_table(sizes: list[float], repeat: int, gixy: str | None) -> tuple[list[str], list[Row]]:
    results: list[Row] = []
    cold_flags = ["--no-cache"] if cli_has("--no-cache") else []
    for size in sizes:
        folder, facts = tree(size)
        reps = repeat if size <= 10 else 1
        print(f"{size:g} MB tree: {facts['files']} files, {facts['lines']} lines, {facts['servers']} servers", flush=True)
        api = [PY, str(HERE / "lint_api.py"), "nginx.conf"]
        commands = {
            "crossplane": ("crossplane.parse", [PY, str(HERE / "crossplane_parse.py"), "nginx.conf"]),
            "core": ("nginx-502lint parse + model, no rule", [*api, "--rules", "none"]),
            "lint": ("nginx-502lint (CLI, cold)", [*lint_cli(), *cold_flags, "nginx.conf"]),
        }
        if size <= 10:
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            scratch = tempfile.mkdtemp()
            commands["nginx"] = ("nginx -t", [nginx, "-t", "-q", "-p", str(folder), "-c", str(folder / "nginx.conf"),
                                              "-e", f"{scratch}/e.log", "-g", f"pid {scratch}/n.pid;"])
        with tempfile.TemporaryDirectory() as cache_dir:
            warm = [*api, "--cache-dir", cache_dir]
            if size <= 10:  # beyond that a full lint may not finish: measured after, only if it did
                run_once(warm, folder)  # fills the cache
                commands["api_cold"] = ("library API, cold", api)
                commands["api_warm"] = ("library API, warm cache", warm)
            row = measure_interleaved(commands, folder, reps, warmup=size <= 10)
            if size > 10 and row["lint"].finished:
                run_once(warm, folder)
                row.update(measure_interleaved({"api_cold": ("library API, cold", api),
                                                "api_warm": ("library API, warm cache", warm)}, folder, reps,
                                               warmup=False))
        if gixy and size <= 10:  # gixy-ng needs minutes beyond that
            row["gixy"] = measure("gixy-ng", [gixy, "nginx.conf"], folder, 1 if size > 2.5 else reps)
        results.append((facts, row))
    lines = [
        "| tree | crossplane.parse | nginx-502lint, all rules (CLI) | ratio time wall / CPU | RSS: crossplane → lint "
        "| nginx-502lint, parse + model only | ratio wall / CPU, RSS | warm (cache) | gixy-ng | nginx -t |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for facts, row in results:
        cp, li, core = row["crossplane"], row["lint"], row["core"]
        ratio = f"**{li.wall / cp.wall:.2f}× / {li.cpu / cp.cpu:.2f}×**" if li.finished else "—"
        memory = f"{cp.rss:.0f} → {li.rss:.0f} MB (**{li.rss / cp.rss:.2f}×**)" if li.finished else "—"
        core_ratio = (f"**{core.wall / cp.wall:.2f}× / {core.cpu / cp.cpu:.2f}×**, {core.rss:.0f} MB "
                      f"(**{core.rss / cp.rss:.2f}×**)") if core.finished else "—"
        warm = (f"{row['api_warm'].wall:.2f} s ({row['api_warm'].wall / row['api_cold'].wall:.0%} of cold)"
                if "api_warm" in row else "—")
        gixy_text = (f"{row['gixy'].text()}, {row['gixy'].rss:.0f} MB" if "gixy" in row
                     else "not run (> 10 MB)" if gixy and facts["mb"] > 10 else "not installed")
        nginx_text = f"{row['nginx'].wall:.2f} s, {row['nginx'].rss:.0f} MB" if "nginx" in row else "—"
        lines.append(
            f"| {facts['mb']:.1f} MB, {facts['lines']:,.0f} lines, {facts['files']:.0f} files "
            f"| {cp.text()} | {li.text()} | {ratio} | {memory} | {core.text()} | {core_ratio} "
            f"| {warm} | {gixy_text} | {nginx_text} |"
        )
    return lines, results


def linearity(results: list[Row]) -> list[str]:
    lines = ["| tree | crossplane CPU s/MB | parse + model CPU s/MB | all rules CPU s/MB | parse + model RSS MB/MB |",
             "|---|---|---|---|---|"]
    for facts, row in results:
        mb = facts["mb"]
        full = f"{row['lint'].cpu / mb:.3f}" if row["lint"].finished else "did not finish"
        lines.append(f"| {mb:.1f} MB | {row['crossplane'].cpu / mb:.3f} | {row['core'].cpu / mb:.3f} | {full} "
                     f"| {row['core'].rss / mb:.1f} |")
    return lines


def phases(size: float) -> dict[str, object] | None:
    folder, _ = tree(size)
    result = subprocess.run([PY, str(HERE / "phases.py"), "nginx.conf"], cwd=folder, env=child_env(),
                            capture_output=True, text=True, timeout=TIMEOUT)
    if result.returncode != 0:
        print(f"phases.py failed: {result.stderr.strip()[-500:]}")
        return None
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def phases_table(sizes: list[float]) -> list[str]:
    """CPU per part on the given trees; the last column shows how each part grows with size."""
    measured = [(size, data) for size in sizes if (data := phases(size)) is not None]
    if not measured:
        return ["(phases.py failed)"]
    (small, first), (big, last) = measured[0], measured[-1]
    growth = big / small
    header = " | ".join(f"{size:g} MB CPU s" for size, _ in measured)
    lines = [f"In-process CPU time (one run, imports excluded); growth = time at {big:g} MB / time at {small:g} MB, "
             f"where linear is {growth:.0f}×:", "", f"| part | {header} | growth | findings |",
             "|---|" + "---|" * len(measured) + "---|---|"]

    def row(label: str, values: list[float], findings: str = "") -> str:
        grow = f"{values[-1] / values[0]:.1f}×" if values[0] > 0.002 else "—"
        flag = " ⚠" if values[0] > 0.002 and values[-1] / values[0] > growth * 1.6 else ""
        return f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + f" | {grow}{flag} | {findings} |"

    def cpu(data: object, *path: str) -> float:
        for key in path:
            data = data[key]  # type: ignore[index]
        return float(data["cpu"])  # type: ignore[index]

    lines.append(row("load: read, lex, crossplane parse, includes", [cpu(d, "phases", "load") for _, d in measured]))
    lines.append(row("model: index, pass sites, upstreams", [cpu(d, "phases", "model") for _, d in measured]))
    rules = list(last["rules"])  # type: ignore[index]
    totals = [sum(r["cpu"] for r in d["rules"].values()) for _, d in measured]  # type: ignore[index]
    lines.append(row(f"all {len(rules)} rules", totals))
    ordered = sorted(rules, key=lambda r: -last["rules"][r]["cpu"])  # type: ignore[index]
    small_ones = [r for r in ordered if last["rules"][r]["cpu"] < 0.05]  # type: ignore[index]
    for rule in ordered:
        if rule not in small_ones:
            lines.append(row(f"rule {rule}", [d["rules"][rule]["cpu"] for _, d in measured],  # type: ignore[index]
                             str(last["rules"][rule]["findings"])))  # type: ignore[index]
    if small_ones:
        lines.append(row(f"{len(small_ones)} other rules", [sum(d["rules"][r]["cpu"] for r in small_ones)  # type: ignore[index]
                                                            for _, d in measured]))
    lines += ["", "⚠: grows clearly faster than the tree (worse than linear)."]
    return lines


def _importtime(code: str) -> list[tuple[int, int, str]]:
    """(cumulative µs, depth, module) for each import `code` makes, in import order."""
    result = subprocess.run([PY, "-X", "importtime", "-c", code], env=child_env(), capture_output=True, text=True)
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)", line)
        if match:
            rows.append((int(match.group(2)), len(match.group(3)) // 2, match.group(4)))
    return rows


def importtime() -> list[str]:
    lines: list[str] = []
    if DEBIAN.is_file():
        code = (f"import os; os.chdir({str(DEBIAN.parent)!r})\n"
                "from nginx_502lint.cli import main; main(['nginx.conf'])")
        lint = _importtime(code)
        total = sum(us for us, depth, _ in lint if depth == 0)
        lines += [f"A plain lint of the Debian defaults (the fast path, no typer) imports {total / 1000:.0f} ms "
                  "(site-packages start-up included). Each top-level import with what it pulls in first:", "",
                  "| module | cumulative ms |", "|---|---|"]
        lines += [f"| {name} | {us / 1000:.1f} |" for us, depth, name in sorted(lint, reverse=True) if depth == 0][:20]
        lines.append("")
    rules = _importtime("from nginx_502lint.engine import Registry\n"
                        "r = Registry.default()\nfor i in r.ids(): r.get(i)")
    total_rules = sum(us for us, depth, _ in rules if depth == 0)
    lines += [f"Loading the registry, its entry points and every rule module (no CLI) imports {total_rules / 1000:.0f} ms "
              "(site-packages start-up included). Largest imports, any depth:", "", "| module | cumulative ms |", "|---|---|"]
    lines += [f"| {name} | {us / 1000:.1f} |" for us, _, name in sorted(rules, reverse=True)[:12]]
    return lines


STARTUP_TARGET_MS = 150  # issue 7: the Debian defaults, whole process, so pre-commit feels instant
STARTUP_VENV = Path(os.environ.get("NGINX_502LINT_STARTUP_VENV", "/tmp/sv"))
"""A venv with a plain (non-editable) `pip install .`, as users have it; its rows are skipped when it is missing."""


def startup(repeat: int) -> list[str]:
    if not DEBIAN.is_file():
        return [f"Debian default tree not found at {DEBIAN}"]
    cwd = DEBIAN.parent
    runs = {
        "floor": ("python -I -S -c pass (interpreter floor)", [PY, "-I", "-S", "-c", "pass"]),
        "site": ("python -c pass (with this site-packages)", [PY, "-c", "pass"]),
        "crossplane": ("python -c 'import crossplane'", [PY, "-c", "import crossplane"]),
        "lint": ("nginx-502lint nginx.conf (Debian defaults, fast path)", [*lint_cli(), "nginx.conf"]),
        "typer": ("the same forced through typer (NGINX_502LINT_NO_FAST_PATH=1)",
                  ["env", "NGINX_502LINT_NO_FAST_PATH=1", *lint_cli(), "nginx.conf"]),
        "version": ("nginx-502lint --version (typer)", [*lint_cli(), "--version"]),
        "api": ("library API, no CLI framework", [PY, str(HERE / "lint_api.py"), "nginx.conf"]),
        "parse": ("crossplane.parse of the same tree", [PY, str(HERE / "crossplane_parse.py"), "nginx.conf"]),
    }
    installed = STARTUP_VENV / "bin"
    if (installed / "nginx-502lint").is_file():
        runs |= {
            "venv_site": (f"{installed}/python -c pass", [str(installed / "python"), "-c", "pass"]),
            "venv_crossplane": (f"{installed}/python -c 'import crossplane'", [str(installed / "python"), "-c", "import crossplane"]),
            "venv_lint": (f"{installed}/nginx-502lint nginx.conf (plain pip install)", [str(installed / "nginx-502lint"), "nginx.conf"]),
        }
    measured = measure_interleaved(runs, cwd, repeat)
    floor, site = measured["floor"].wall, measured["site"].wall
    lines = [f"Target: {STARTUP_TARGET_MS} ms wall for the lint, whole process. Rows under {installed} are a venv with "
             f"a plain `pip install` (`python3 -m venv {STARTUP_VENV} && {installed}/pip install .`; skipped when missing).", "",
             "| process | best wall | median wall | above `python -I -S` | above `python -c pass` |", "|---|---|---|---|---|"]
    for key, m in measured.items():
        own_site = measured["venv_site"].wall if key.startswith("venv_") else site
        lines.append(f"| {runs[key][0]} | {m.wall * 1000:.0f} ms | {m.wall_median * 1000:.0f} ms "
                     f"| {(m.wall - floor) * 1000:+.0f} ms | {(m.wall - own_site) * 1000:+.0f} ms |")
    return lines


def framework_table(repeat: int) -> list[str]:
    """The CLI in throw-away venvs that differ only in their typer release (if they exist)."""
    venvs = sorted(Path("/tmp").glob("typer-*/bin/nginx-502lint"))
    if not venvs or not DEBIAN.is_file():
        return ["No /tmp/typer-*/ venvs: for each release X, `python -m venv /tmp/typer-X && /tmp/typer-X/bin/pip install "
                "typer==X crossplane typing_extensions && /tmp/typer-X/bin/pip install --no-deps -e .`"]
    lines = ["The CLI on the Debian defaults in venvs that differ only in typer (each venv's own interpreter floor):", "",
             "| typer | `python -c pass` | `import typer` | nginx-502lint nginx.conf | above the floor |", "|---|---|---|---|---|"]
    for script in venvs:
        python = str(script.parent / "python")
        release = script.parent.parent.name.removeprefix("typer-")
        runs = measure_interleaved({"floor": ("python -c pass", [python, "-c", "pass"]),
                                    "typer": ("import typer", [python, "-c", "import typer"]),
                                    "lint": (f"typer {release}: nginx-502lint", [str(script), "nginx.conf"])},
                                   DEBIAN.parent, repeat)
        floor = runs["floor"].wall
        lines.append(f"| {release} | {floor * 1000:.0f} ms | {runs['typer'].wall * 1000:.0f} ms "
                     f"| {runs['lint'].wall * 1000:.0f} ms | +{(runs['lint'].wall - floor) * 1000:.0f} ms |")
    return lines


def jobs_table(repeat: int) -> list[str]:
    folder, _ = tree(2.5)
    files = sorted(str(p.relative_to(folder)) for p in (folder / "sites").glob("*.conf"))
    lines = [f"{len(files)} site files of the 2.5 MB tree given one by one (as pre-commit passes them), library API:", "",
             "| jobs | best wall | CPU (all processes) |", "|---|---|---|"]
    for jobs in (1, 2):
        m = measure(f"-j {jobs} on {len(files)} files", [PY, str(HERE / "lint_api.py"), "--jobs", str(jobs), *files],
                    folder, repeat)
        lines.append(f"| {jobs} | {m.wall:.2f} s | {m.cpu:.2f} s |")
    return lines


def write_readme(sections: list[str]) -> None:
    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    README.write_text(before + START + "\n" + "\n".join(sections) + "\n" + END + after)


def main() -> int:
    global TIMEOUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2.5,10,50", help="tree sizes in MB, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 and 2.5 MB, 2 repeats")
    parser.add_argument("--gixy", default="/tmp/gixy-venv/bin/gixy", help="gixy-ng binary in its own venv")
    parser.add_argument("--no-write", action="store_true", help="print only; leave README.md alone")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds before a run counts as not finished")
    args = parser.parse_args()
    TIMEOUT = args.timeout
    sizes = [1.0, 2.5] if args.quick else [float(s) for s in args.sizes.split(",")]
    repeat = 2 if args.quick else args.repeat
    gixy = args.gixy if os.access(args.gixy, os.X_OK) else None
    if gixy is None:
        print(f"gixy-ng not found at {args.gixy}: skipped (python -m venv /tmp/gixy-venv && "
              "/tmp/gixy-venv/bin/pip install gixy-ng)", flush=True)
    sections = ["## Results", "", f"Run on {time.strftime('%Y-%m-%d %H:%M %Z')} with `python benchmarks/run.py "
                f"{' '.join(sys.argv[1:])}`.".replace(" `.", "`."), ""]
    sections += machine()
    smallest, _ = tree(sizes[0])
    sections += ["", f"Generated trees: `benchmarks/generate.py`, seed 502; the {sizes[0]:g} MB tree "
                 f"{nginx_accepts(smallest)} (nginx 1.22.1).", ""]
    print("== sizes", flush=True)
    table, results = size_table(sizes, repeat, gixy)
    sections += ["### Whole runs: nginx-502lint against crossplane's bare parse", "",
                 "Best of the repeats; the ratio is nginx-502lint over crossplane.parse (target: ≤ 1.3× time, ≤ 2× memory).",
                 "", *table, "", "### Linearity", "", *linearity(results), ""]
    print("== phases", flush=True)
    sections += ["### Inside one run: where the time goes", "", *phases_table([s for s in sizes if s <= 10]), ""]
    print("== import time", flush=True)
    sections += ["### Import time", "", *importtime(), ""]
    print("== start-up", flush=True)
    sections += ["### Small config: start-up against the interpreter floor", "", *startup(max(10, repeat * 3)), ""]
    print("== CLI framework", flush=True)
    sections += ["### Start-up by typer release", "", *framework_table(max(10, repeat * 3)), ""]
    print("== jobs", flush=True)
    sections += ["### Parallel linting of many files", "", *jobs_table(repeat), ""]
    sections.append(f"Load average when the run ended: {' '.join(f'{x:.1f}' for x in os.getloadavg())}.")
    print("\n".join(sections))
    if not args.no_write:
        write_readme(sections)
        print(f"\nwritten to {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

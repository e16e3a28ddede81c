"""The floors of engine/ (README 'Architecture'): no module imports one of a higher floor or of a sibling
floor, and net/, loss/ and data/ import nothing from engine/."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# engine/'s floors, top to bottom; a module of engine/ itself (device, performance, model_spec...) is the base.
FLOORS = {"commands": 6, "app": 5, "training": 4, "model_registry": 3.5, "inference": 3, "measurement": 3,
          "weights": 2}
BASE = 1


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> list[str]:
    """The absolute names of the modules that ``path`` imports (``from .x import y`` resolved)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names += [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
    return names


def _floor(module: str) -> tuple[float, str]:
    """(rank, floor name) of an ``engine`` module."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else ""
    return (FLOORS[name], name) if name in FLOORS else (BASE, "base")


def _engine_modules() -> list[Path]:
    return sorted((ROOT / "engine").rglob("*.py"))


@pytest.mark.parametrize("path", _engine_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_runs_up_a_floor_or_sideways(path):
    rank, floor = _floor(_module_name(path))
    for target in _imported(path):
        if target.split(".")[0] != "engine" or target == "engine":
            continue
        target_rank, target_floor = _floor(target)
        assert target_rank < rank or target_floor == floor, f"{path.name} ({floor}) imports {target} ({target_floor})"


@pytest.mark.parametrize("package", ["net", "loss", "data"])
def test_the_lower_packages_import_nothing_from_engine(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        assert not [t for t in _imported(path) if t.split(".")[0] == "engine"], path


def test_the_check_sees_an_upward_import():
    """The resolution the tests above rely on: a relative import two levels up names the module it reaches."""
    module = ROOT / "engine" / "inference" / "enhancer.py"
    assert "engine.model_spec" in _imported(module)
    assert _floor("engine.commands.train_command") > _floor("engine.inference.enhancer")

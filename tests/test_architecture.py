"""The layout rules of ``server/``: no import circles, and domain code never imports the HTTP
or Celery entry points above it (api / tasks → ``server.utils`` → db / settings)."""
from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[1] / "server"
ENTRY_POINTS = ("server.api_", "server.app", "server.tasks", "server.celery_", "server.wsgi", "server.cli",
                "server.auth", "server.ratelimit", "server.request_checks", "server.health", "server.console",
                "server.docs")


def _import_graph() -> dict[str, set[str]]:
    """Module → the ``server`` modules it imports anywhere in its body (function-level too)."""
    modules = {}
    for path in SERVER.rglob("*.py"):
        name = ".".join(path.relative_to(SERVER.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("server"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in modules)
        graph[name] = targets - {name}
    return graph


def _cycle_from(graph, start, path, seen):
    for target in sorted(graph.get(start, ())):
        if target in path:
            return path[path.index(target):] + [target]
        if target not in seen:
            seen.add(target)
            found = _cycle_from(graph, target, path + [target], seen)
            if found:
                return found
    return None


def test_no_import_circles():
    graph = _import_graph()
    for module in sorted(graph):
        assert _cycle_from(graph, module, [module], {module}) is None


def test_domain_packages_do_not_import_entry_points():
    graph = _import_graph()
    upward = {(m, t) for m, targets in graph.items() if m.startswith("server.utils")
              for t in targets if t.startswith(ENTRY_POINTS)}
    assert upward == set()


def test_utils_top_holds_few_plain_modules():
    plain = [p.name for p in (SERVER / "utils").glob("*.py") if p.name != "__init__.py"]
    assert len(plain) <= 4, plain

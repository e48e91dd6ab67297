"""Import graphs: the loops in one (tests/test_imports.py for the template's own folders,
tests/test_package_shape.py for a baked project's package)."""

from __future__ import annotations


def loops(graph: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """Each cycle between units, as a path that ends where it starts (one per cycle)."""
    following: dict[str, set[str]] = {}
    for importer, imported in graph:
        following.setdefault(importer, set()).add(imported)
    found, seen = [], set()

    def walk(node: str, path: list[str]) -> None:
        for after in sorted(following.get(node, ())):
            if after in path:
                loop = path[path.index(after) :] + [after]
                if frozenset(loop) not in seen:
                    seen.add(frozenset(loop))
                    found.append(loop)
            else:
                walk(after, [*path, after])

    for start in sorted(following):
        walk(start, [start])
    return found

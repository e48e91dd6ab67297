"""Reading a baked project's files: its student docs and their code blocks, every file,
its data files parsed, JSON with comments."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml


def student_docs(project: Path) -> str:
    """The project's README and its docs/ pages, as one text (README first)."""
    pages = [project / "README.md", *sorted((project / "docs").glob("*.md"))]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


def code_blocks(markdown: str, language: str) -> list[str]:
    """The fenced code blocks of one language in a Markdown text, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", markdown, re.S | re.M)


def rendered_files(project: Path) -> list[Path]:
    """Every file of a baked project, outside .git."""
    return [p for p in project.rglob("*") if p.is_file() and ".git" not in p.parts]


def parse_data_files(project):
    """Parse every TOML, JSON and YAML file; return how many of each."""
    counts = {"toml": 0, "json": 0, "yaml": 0}
    for path in rendered_files(project):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".json":
            json.loads(strip_jsonc_comments(text))
        elif path.suffix in (".yaml", ".yml"):
            yaml.safe_load(text)
        else:
            continue
        counts[path.suffix.lstrip(".").replace("yml", "yaml")] += 1
    return counts


def strip_jsonc_comments(text):
    """devcontainer.json is JSON with comments: drop // lines before parsing. (Lines end at
    "\n" only: splitlines() also splits at U+2028 or U+0085, which a JSON string may hold.)"""
    return "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("//"))


def load_jsonc(text: str) -> dict:
    """Parse JSON with // and /* */ comments (strings may contain // safely)."""
    token = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.S)
    return json.loads(token.sub(lambda m: m[0] if m[0].startswith('"') else "", text))

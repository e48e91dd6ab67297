"""A baked project's files: its student docs and their code blocks, every file, its data
files parsed, JSON with comments; the junk and secrets students keep beside the code."""

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


# Junk that .dockerignore must keep out of every image.
IGNORED = [".venv/lib/junk.py", "logs/job-1.out", "checkpoints/ckpt-1.index", "data/big.npy"]
# Secrets students keep next to the code: out of git, out of every image.
SECRETS = [
    ".env",
    "code-server.env",
    "config/.env.local",
    ".netrc",
    ".ssh/id_ed25519",
    "id_rsa",
    "certs/server.pem",
    "certs/server.key",
    ".git-credentials",
    ".pypirc",
    "kaggle.json",
    ".kaggle/kaggle.json",
    "putty.ppk",
    ".aws/credentials",
    "credentials.json",
    ".docker/config.json",
    ".dockercfg",
    ".npmrc",
    ".pgpass",
    ".config/gh/hosts.yml",
    "token.txt",
    "secrets.yaml",
    ".gnupg/secring.gpg",
    "secring.gpg",
    "release.jks",
    ".jupyter/jupyter_server_config.json",
    "notebooks/.aws/credentials",  # anywhere in the project, not only at its top
]
# A repository cloned inside the project: its code goes into the image, its .git does not.
NESTED_REPOSITORY = {"code": "vendor/lib/lib.py", "git": "vendor/lib/.git/config"}


def add_junk(project: Path) -> None:
    """Write IGNORED, SECRETS and NESTED_REPOSITORY's files into ``project``."""
    for name in [*IGNORED, *SECRETS, *NESTED_REPOSITORY.values()]:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("must not be in the image\n")

"""Jinja filters for the template (cookiecutter loads this file via ``_extensions``).

``ReservedNames`` hands the pre-generation hook the names ``project`` and
``package`` must not take (``hooks/reserved_names.json``, beside this file), and
``Choices`` the choice lists of ``cookiecutter.json`` (their one source). The
hook is rendered into a temporary file and run in the new project's folder, so it
cannot find the template's files itself: under ``cruft`` the template is a
temporary clone and ``_repo_dir`` is not in the answers.

``toml_string`` writes any text as a valid TOML basic string. Jinja's ``tojson``
is not enough for TOML: it escapes characters outside the Basic Multilingual
Plane (emoji) as UTF-16 surrogate pairs, which TOML rejects.
"""

import json
import os
from pathlib import Path

from cookiecutter.utils import simple_filter
from jinja2.ext import Extension


@simple_filter
def toml_string(value):
    return json.dumps(str(value), ensure_ascii=False)


class SafeProjectDir(Extension):
    """Keep the project's directory inside the output folder, whatever ``project`` is.

    cookiecutter creates the directory named by ``project`` *before* the
    pre-generation hook can reject the answer, and deletes only that directory:
    ``project=../x`` or ``a/b`` would leave folders outside or inside the output
    folder behind. Only the directory-name template is changed (it is the whole
    template text ``{{cookiecutter.project}}``): a name that is not one safe path
    component becomes a placeholder, the hook then names the bad answer, and
    cookiecutter deletes the placeholder.
    """

    DIR_TEMPLATE = "{{cookiecutter.project}}"

    def preprocess(self, source, name, filename=None):
        if source == self.DIR_TEMPLATE:
            return "{{ cookiecutter.project | safe_project_dir }}"
        return source

    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["safe_project_dir"] = safe_project_dir


def safe_project_dir(value):
    text = str(value)
    try:
        size = len(text.encode())  # a file name may have 255 bytes
    except UnicodeEncodeError:  # not UTF-8 (a Latin-1 terminal's byte): the hook names it
        size = None
    unsafe = (
        not text
        or text in (".", "..")
        or any(c in text for c in "/\\\0")
        or size is None
        or size > 200
    )
    return f".rejected-project-name-{os.getpid()}" if unsafe else text


class ReservedNames(Extension):
    """The global ``reserved_names``: hooks/reserved_names.json, read as data."""

    FILE = Path(__file__).resolve().parent / "hooks" / "reserved_names.json"

    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["reserved_names"] = json.loads(self.FILE.read_text(encoding="utf-8"))


class Choices(Extension):
    """The global ``choices``: each choice question of cookiecutter.json and its list.

    cookiecutter refuses a value outside the list at the prompt and as ``key=value`` or
    ``extra_context``, but takes a ``--replay-file`` as it is: the hook checks that case.
    """

    FILE = Path(__file__).resolve().parent / "cookiecutter.json"

    def __init__(self, environment):
        super().__init__(environment)
        questions = json.loads(self.FILE.read_text(encoding="utf-8"))
        environment.globals["choices"] = {
            key: value
            for key, value in questions.items()
            if isinstance(value, list) and not key.startswith("_")
        }

"""Jinja filters for the template (cookiecutter loads this file via ``_extensions``).

``toml_string`` writes any text as a valid TOML basic string. Jinja's ``tojson``
is not enough for TOML: it escapes characters outside the Basic Multilingual
Plane (emoji) as UTF-16 surrogate pairs, which TOML rejects.
"""

import json

from cookiecutter.utils import simple_filter


@simple_filter
def toml_string(value):
    return json.dumps(str(value), ensure_ascii=False)

"""{{ cookiecutter.project_name | trim | replace('\\', '\\\\') | replace('"', '\\"') }}: a Generative AI course project.

Run ``python -m {{ cookiecutter.package }} --help`` for the commands.
"""

__version__ = "0.1.0"

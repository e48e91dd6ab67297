"""The command line answers --help quickly and rejects bad options clearly."""

from {{ cookiecutter.package }} import cli


def test_help_lists_every_command(capsys):
    try:
        cli.main(["--help"])
    except SystemExit as stop:
        assert stop.code == 0
    out = capsys.readouterr().out
    for command in cli.COMMANDS:
        name = command.__name__.rsplit(".", 1)[-1].replace("_", "-")
        assert name in out


def test_unknown_command_is_an_error(cli):
    done = cli("no-such-command")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr


def test_bad_number_names_the_option(cli):
    done = cli("gpu-check", "--size", "0")
    assert done.returncode == 2
    assert "--size" in done.stderr
    assert "must be 1 or more" in done.stderr


def test_help_does_not_import_tensorflow(cli):
    # --help must stay instant: TensorFlow is imported only when a command runs.
    done = cli("--help", env={"PYTHONVERBOSE": "1"})
    assert done.returncode == 0
    assert "import 'tensorflow'" not in done.stderr


def test_tensorboard_passes_every_option_on():
    # `tensorboard` is TensorBoard: its options, --help included, go to it as they are.
    options = ["--logdir", "logs", "--port", "6007", "-h"]
    assert cli.build_parser().parse_args(["tensorboard", *options]).options == options

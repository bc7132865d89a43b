"""The ``sharena`` and ``sharenad`` commands of the Python package: console
scripts that run the programs built into the package directory, next to
the extension module (where the library's autostart also finds sharenad)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name: str) -> str:
    """Full path of the package's own ``sharenad`` or ``sharena`` program."""
    return os.path.join(HERE, name)


def _run(name: str) -> None:
    exe = path(name)
    if not os.access(exe, os.X_OK):
        sys.exit("sharena: %s is missing from the installed package; reinstall it "
                 "(pip install --force-reinstall sharena)" % exe)
    os.execv(exe, [exe] + sys.argv[1:])


def sharena() -> None:
    """``sharena ...``: the command-line tool (docs/cli.md)."""
    _run("sharena")


def sharenad() -> None:
    """``sharenad ...``: the broker."""
    _run("sharenad")

"""Build of the sharena._sharena extension.

The extension compiles the C library from the very sources of lib/ (one
implementation of the arena for every language). From a checkout those are
../lib; they are copied into _lib/ here first, which is also what an sdist
ships, so `pip install ./python`, `pip wheel ./python` and an sdist build
all compile the same files.
"""
import glob
import os
import shutil

from setuptools import Extension, setup
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT_LIB = os.path.join(HERE, "..", "lib")
VENDORED = os.path.join(HERE, "_lib")


def vendor_lib():
    """Refresh _lib/ from ../lib when building inside the repository."""
    if not os.path.isfile(os.path.join(CHECKOUT_LIB, "include", "sharena.h")):
        if not os.path.isdir(VENDORED):
            raise SystemExit(
                "sharena: C sources not found (expected ../lib from a checkout "
                "or _lib/ from an sdist)")
        return
    for sub in ("include", "src"):
        dst = os.path.join(VENDORED, sub)
        os.makedirs(dst, exist_ok=True)
        wanted = set()
        for path in glob.glob(os.path.join(CHECKOUT_LIB, sub, "*.[ch]")):
            name = os.path.basename(path)
            wanted.add(name)
            target = os.path.join(dst, name)
            if not os.path.exists(target) or open(path, "rb").read() != open(target, "rb").read():
                shutil.copyfile(path, target)
        for path in glob.glob(os.path.join(dst, "*.[ch]")):
            if os.path.basename(path) not in wanted:
                os.remove(path)


vendor_lib()


class Sdist(sdist):
    def run(self):
        vendor_lib()
        super().run()


lib_sources = sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(VENDORED, "src", "*.c")))
ext_sources = sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "src", "_sharena", "*.c")))

ext = Extension(
    "sharena._sharena",
    sources=ext_sources + lib_sources,
    # no _lib/src: the extension sees only the public header (the library's
    # own sources find internal.h next to themselves)
    include_dirs=["_lib/include", "src/_sharena"],
    define_macros=[("_GNU_SOURCE", "1")],
    # libseccomp is optional in the library (sharena_sandbox_allow returns
    # EPERM without it); the extension does not need it.
    extra_compile_args=["-std=gnu11", "-fvisibility=hidden", "-Wno-unused-parameter",
                        "-Wno-missing-field-initializers"],
    libraries=["pthread", "dl", "m"],
)

setup(ext_modules=[ext], cmdclass={"sdist": Sdist})

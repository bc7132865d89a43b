"""Build of the sharena Python package: the sharena._sharena extension, and
the broker (sharenad) and the command-line tool (sharena) that ship inside
the package, next to the extension.

Everything compiles from the very sources of the repository (one
implementation of the arena for every language): lib/, broker/ and
tools/cli/. From a checkout those are ../lib, ../broker and ../tools/cli;
they are copied into _lib/, _broker/ and _cli/ here first, which is also
what an sdist ships, so `pip install ./python`, `pip wheel ./python` and a
build from an unpacked sdist all compile the same files.

The two programs go into the package directory (sharena/sharenad,
sharena/sharena): the library's autostart looks for sharenad beside the
module that holds it (lib/src/client.c, find_sharenad), and the `sharena`
and `sharenad` commands are console scripts that run them
(sharena/_commands.py). libseccomp and libbsd are linked statically when
their static libraries are installed (libseccomp-dev, libbsd-dev), so the
wheel needs nothing but glibc; without libseccomp the broker runs without
its seccomp filter and says so in its log ("seccomp off (built without
libseccomp)"); without libbsd it has no pidfile locking or process title.
"""
import glob
import os
import re
import shutil
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.join(HERE, "..")
# vendored directory -> directory of the checkout it is copied from
VENDOR = {
    "_lib/include": "lib/include",
    "_lib/src": "lib/src",
    "_broker": "broker",
    "_cli": "tools/cli",
}


def vendor():
    """Refresh the vendored sources from the checkout when building inside
    the repository; outside it (an unpacked sdist) they must be there."""
    if not os.path.isfile(os.path.join(CHECKOUT, "lib", "include", "sharena.h")):
        missing = [d for d in VENDOR if not os.path.isdir(os.path.join(HERE, d))]
        if missing:
            raise SystemExit(
                "sharena: C sources not found (expected ../lib, ../broker and "
                "../tools/cli from a checkout, or %s from an sdist)" % ", ".join(missing))
        return
    for sub, src in VENDOR.items():
        src = os.path.join(CHECKOUT, src)
        dst = os.path.join(HERE, sub)
        os.makedirs(dst, exist_ok=True)
        wanted = set()
        for path in glob.glob(os.path.join(src, "*.[ch]")):
            name = os.path.basename(path)
            wanted.add(name)
            target = os.path.join(dst, name)
            with open(path, "rb") as f:
                data = f.read()
            if not os.path.exists(target) or open(target, "rb").read() != data:
                shutil.copyfile(path, target)
        for path in glob.glob(os.path.join(dst, "*.[ch]")):
            if os.path.basename(path) not in wanted:
                os.remove(path)


vendor()


def read_version():
    """The release, from the one place it is written: sharena.h."""
    text = open(os.path.join(HERE, "_lib", "include", "sharena.h")).read()
    parts = [re.search(r"^#define SHARENA_VERSION_%s (\d+)$" % p, text, re.M).group(1)
             for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


class Sdist(sdist):
    def run(self):
        vendor()
        super().run()


def sources(sub):
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, sub, "*.c")))


CFLAGS = ["-std=gnu11", "-fvisibility=hidden", "-Wno-unused-parameter",
          "-Wno-missing-field-initializers"]
LIBS = ["pthread", "dl", "m"]

lib_sources = sources("_lib/src")
ext = Extension(
    "sharena._sharena",
    sources=sources("src/_sharena") + lib_sources,
    # no _lib/src: the extension sees only the public header
    include_dirs=["_lib/include", "src/_sharena"],
    define_macros=[("_GNU_SOURCE", "1")],
    # libseccomp is optional in the library (sharena_sandbox_allow returns
    # EPERM without it); the extension does not need it.
    extra_compile_args=CFLAGS,
    libraries=LIBS,
)

# Optional dependencies of the broker: (macro, probe program, link flags to
# try in order). A static archive first (the wheel then needs only glibc).
STATIC = ["-Wl,-Bstatic"], ["-Wl,-Bdynamic"]
OPTIONAL = [
    ("SHARENA_HAVE_SECCOMP", "libseccomp (Debian: libseccomp-dev)",
     "#include <seccomp.h>\nint main(void) { scmp_filter_ctx c = seccomp_init(0);"
     " seccomp_release(c); return 0; }\n",
     [STATIC[0] + ["-lseccomp"] + STATIC[1], ["-lseccomp"]]),
    ("SHARENA_HAVE_LIBBSD", "libbsd (Debian: libbsd-dev)",
     "#include <bsd/libutil.h>\n#include <bsd/unistd.h>\n"
     "int main(int c, char **v, char **e) { struct pidfh *p = pidfile_open(0, 0644, 0);"
     " (void)p; setproctitle_init(c, v, e); return 0; }\n",
     [STATIC[0] + ["-lbsd", "-lmd"] + STATIC[1], ["-lbsd"]]),
]


class BuildExt(build_ext):
    """Builds the extension, then sharenad and sharena beside it."""

    def run(self):
        super().run()
        self.build_programs()

    def probe(self, code, flags):
        try:
            from setuptools.errors import CompileError, LinkError
        except ImportError:  # setuptools < 59
            from distutils.errors import CompileError, LinkError
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write(code)
            try:
                objs = self.compiler.compile([src], output_dir=tmp, extra_postargs=["-std=gnu11"])
                self.compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=flags)
            except (CompileError, LinkError):
                return False
        return True

    def build_programs(self):
        cc = self.compiler
        out_dir = os.path.dirname(self.get_ext_fullpath("sharena._sharena"))
        tmp = os.path.join(self.build_temp, "programs")
        os.makedirs(tmp, exist_ok=True)
        # The library's objects as the extension compiled them (else anew).
        lib_objs = cc.object_filenames(lib_sources, output_dir=self.build_temp)
        if not all(os.path.exists(o) for o in lib_objs):
            lib_objs = cc.compile(lib_sources, output_dir=tmp, macros=[("_GNU_SOURCE", "1")],
                                  include_dirs=["_lib/include", "_lib/src"],
                                  extra_postargs=CFLAGS)
        macros = [("_GNU_SOURCE", "1")]
        link = []
        for macro, what, code, choices in OPTIONAL:
            for flags in choices:
                if self.probe(code, flags):
                    macros.append((macro, "1"))
                    link += flags
                    break
            else:
                print("sharena: %s not found: sharenad is built without it%s" % (
                    what, " (no seccomp filter; its log says so)"
                    if macro == "SHARENA_HAVE_SECCOMP" else ""), file=sys.stderr)
        programs = [("sharenad", "_broker", macros, link),
                    ("sharena", "_cli", [("_GNU_SOURCE", "1")], [])]
        for name, sub, defs, extra in programs:
            objs = cc.compile(sources(sub), output_dir=tmp, macros=defs,
                              include_dirs=["_lib/include", "_lib/src", sub],
                              extra_postargs=CFLAGS)
            cc.link_executable(objs + lib_objs, name, output_dir=out_dir,
                               libraries=LIBS, extra_postargs=extra)


setup(version=read_version(), ext_modules=[ext],
      cmdclass={"sdist": Sdist, "build_ext": BuildExt})

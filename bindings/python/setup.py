"""Build hooks of the llmtrace Python package; the metadata lives in pyproject.toml.

Two environment variables, read when the package is built (pip install / pip wheel):
  LLMTRACE_PREFIX=<prefix>          the CMake install prefix of libllmtrace_c.so; recorded in llmtrace/_prefix.py,
                                    so the installed package finds <prefix>/lib/libllmtrace_c.so without env.
  LLMTRACE_BUNDLE_LIB=<path>        copy this libllmtrace_c.so into the package: a wheel for machines without the
                                    library (tagged for this platform, since it then carries native code).
"""

import os
import shutil

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from wheel.bdist_wheel import bdist_wheel
except ImportError:  # no wheel module: only a plain install is possible, and pip says so
    bdist_wheel = None

_BUNDLE = os.environ.get("LLMTRACE_BUNDLE_LIB")


class _BuildPy(build_py):
    def run(self):
        super().run()
        pkg = os.path.join(self.build_lib, "llmtrace")
        # The build directory is reused between builds: never carry a previous build's hooks over.
        for stale in ("_prefix.py", "libllmtrace_c.so"):
            if os.path.exists(os.path.join(pkg, stale)):
                os.remove(os.path.join(pkg, stale))
        prefix = os.environ.get("LLMTRACE_PREFIX")
        if prefix:
            with open(os.path.join(pkg, "_prefix.py"), "w", encoding="utf-8") as f:
                f.write('"""Written at build time by setup.py: the install prefix of libllmtrace_c.so."""\n')
                f.write(f"PREFIX = {os.path.abspath(prefix)!r}\n")
        if _BUNDLE:
            if not os.path.isfile(_BUNDLE):
                raise SystemExit(f"LLMTRACE_BUNDLE_LIB={_BUNDLE}: no such file")
            shutil.copyfile(os.path.realpath(_BUNDLE), os.path.join(pkg, "libllmtrace_c.so"))


cmdclass = {"build_py": _BuildPy}

if bdist_wheel is not None:

    class _BdistWheel(bdist_wheel):
        def get_tag(self):
            python, abi, plat = super().get_tag()
            if _BUNDLE:  # native library inside, but no Python extension: any Python 3 on this platform
                return "py3", "none", plat
            return python, abi, plat

    cmdclass["bdist_wheel"] = _BdistWheel



class _BinaryDistribution(Distribution):
    """With the library bundled, the package is platform specific: installed to platlib, not purelib."""

    def has_ext_modules(self):
        return True


setup(cmdclass=cmdclass, distclass=_BinaryDistribution if _BUNDLE else Distribution)

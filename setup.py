"""The optional C kernel of livegate's audio path; without a compiler the numpy reference runs."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("livegate.audio._dsp", ["src/livegate/audio/_dsp.c"], optional=True, extra_compile_args=["-O3"]),
    ]
)

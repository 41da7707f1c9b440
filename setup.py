"""Packaging for blackbox-xai.

``adapters/`` is installed as ``blackbox_xai.adapters`` through ``package_dir``; the packages are
listed explicitly because setuptools' auto-discovery misses such mappings in editable installs
(pypa/setuptools#4248).
"""
from setuptools import setup

PACKAGES = [
    "blackbox_xai",
    "blackbox_xai.explainers",
    "blackbox_xai.analysis",
    "blackbox_xai.lrp",
    "blackbox_xai.adapters",
    "blackbox_xai.service",
]

setup(
    name="blackbox-xai",
    version="0.1.0",
    description="Explain any model you can call: SIS, KernelSHAP, LIME, occlusion and LRP.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=PACKAGES,
    package_dir={"blackbox_xai.adapters": "adapters"},
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.3",
        "joblib>=1.2",
        "ray>=2.9",
    ],
    extras_require={
        # Install torch itself first with `pip install torch==2.13.0` (a CPU build); a bare
        # `torch` requirement would pull a multi-GB CUDA build on machines without it.
        "torch": ["torch>=2.1"],
        "plot": ["matplotlib>=3.6"],
        "progress": ["tqdm>=4.60"],
        "parquet": ["pyarrow>=12"],
        # the explanation service: FastAPI + uvicorn; Ray Serve for `blackbox-xai serve --ray`
        "serve": ["fastapi>=0.100", "uvicorn>=0.23", "python-multipart>=0.0.9", "ray[serve]>=2.9"],
        # pandas and shap: the tests of DataFrames in and shap.Explanation out (neither is needed
        # by the library itself)
        "test": ["pytest>=7", "hypothesis>=6", "pyarrow>=12", "httpx>=0.24", "pandas>=1.5", "shap>=0.42"],
    },
    entry_points={"console_scripts": ["blackbox-xai = blackbox_xai.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)

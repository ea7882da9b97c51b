"""The sans-I/O rule: protocol modules import no event loop, socket, clock, randomness or id source
(STYLE.md §1). Time and ids are passed in, so their tests assert exact frames."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "livegate"
PURE = [
    "errors.py",
    "accounting.py",
    "emulator/wire.py",
    "emulator/messages.py",
    "emulator/models.py",
    "emulator/routes.py",
    "audio/vad.py",
    "audio/g711.py",
    "audio/resample.py",
    "audio/formats.py",
    "audio/ingest.py",
    "emulator/voice.py",
    "emulator/script.py",
    "emulator/state.py",
    "emulator/connection.py",
    "emulator/listening.py",
    "emulator/render.py",
    "emulator/setups.py",
    "emulator/tokens.py",
    "gemini/models.py",
    "gemini/route.py",
    "gemini/setup.py",
    "gemini/usage.py",
    "gemini/closes.py",
    "realtime/replay.py",
    "realtime/conversation.py",
    "realtime/events.py",
    "realtime/session.py",
    "realtime/translator.py",
    "realtime/link.py",
    "realtime/turns.py",
    "realtime/tools.py",
    "realtime/checks.py",
    "realtime/responses.py",
    "realtime/listening.py",
]
FORBIDDEN = {"asyncio", "aiohttp", "websockets", "socket", "ssl", "time", "datetime", "uuid", "secrets", "random", "threading", "requests", "subprocess"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", PURE)
def test_protocol_module_does_no_io(module: str) -> None:
    assert imported_roots(SRC / module) & FORBIDDEN == set()


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_only_pure_livegate_modules(module: str) -> None:
    tree = ast.parse((SRC / module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("livegate."):
            base = node.module.removeprefix("livegate.").replace(".", "/")
            # "from livegate.emulator import voice" names a module; "from livegate.errors import X" a symbol.
            targets = [f"{base}.py"] if (SRC / f"{base}.py").exists() else [f"{base}/{a.name}.py" for a in node.names]
            for target in targets:
                assert target in PURE or target in NATIVE, f"{module} imports {target}, which is not a pure module"


# C kernels of pure modules (their .c sources): arithmetic only, so they may include nothing else.
NATIVE = {"audio/_dsp.py": "audio/_dsp.c"}
ALLOWED_C_HEADERS = {"Python.h", "math.h", "stdint.h"}


@pytest.mark.parametrize("source", sorted(NATIVE.values()))
def test_c_kernels_include_no_io(source: str) -> None:
    headers = set(re.findall(r'#include\s*[<"]([^>"]+)[>"]', (SRC / source).read_text()))
    assert headers <= ALLOWED_C_HEADERS, headers - ALLOWED_C_HEADERS

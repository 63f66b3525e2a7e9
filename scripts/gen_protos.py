#!/usr/bin/env python3
"""Generate the Python stubs for protos/ into clients/python/, or check that they are current.

    python scripts/gen_protos.py           # regenerate
    python scripts/gen_protos.py --check   # exit 1 if the committed stubs drift from protos/

The stubs are committed so that `pip install` needs no protoc; `--check` runs in the test suite.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "clients" / "python"
PACKAGE = Path("newsmt") / "v1"


def generate(out: Path) -> list[Path]:
    """Run protoc on every .proto under protos/newsmt/v1, writing into `out`."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / PACKAGE).glob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    init = out / PACKAGE / "__init__.py"
    init.write_text(
        '"""Generated from protos/newsmt/v1 by scripts/gen_protos.py. Do not edit."""\n'
    )
    # PEP 561: the .pyi stubs reach users' type checkers.
    (out / PACKAGE / "py.typed").write_text("")
    return sorted((out / PACKAGE).iterdir())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the stubs are out of date")
    args = parser.parse_args()
    if not args.check:
        target = OUT / PACKAGE
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for path in generate(OUT):
            print(path.relative_to(ROOT))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        stale = [
            p.name
            for p in fresh
            if not (OUT / PACKAGE / p.name).exists()
            or not filecmp.cmp(p, OUT / PACKAGE / p.name, False)
        ]
        extra = {p.name for p in (OUT / PACKAGE).iterdir() if p.suffix in {".py", ".pyi"}} - {
            p.name for p in fresh
        }
    if stale or extra:
        print(
            f"stubs out of date: {sorted(stale + list(extra))}; run scripts/gen_protos.py",
            file=sys.stderr,
        )
        return 1
    print("stubs match protos/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

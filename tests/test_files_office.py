"""Translated Office files convert in LibreOffice (``soffice --headless --convert-to pdf``).

Needs Debian's libreoffice-writer-nogui, libreoffice-calc-nogui and libreoffice-impress-nogui.
Skipped where soffice is missing, unless CI is set: there it must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from newsmt.pipeline.documents.files import open_file

from .documents_fakes import scrambled, upper
from .test_files_formats import MADE, REAL, outputs

pytestmark = pytest.mark.office

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
FILES = [(name, data) for name, data in MADE.items()] + [
    (p.name, p.read_bytes())
    for p in REAL
    if p.name
    in (
        "python-docx_comments-rich-para.docx",
        "python-docx_hdr-header-footer.docx",
        "python-pptx_tbl-cell.pptx",
    )
]


@pytest.fixture(scope="module")
def soffice() -> str:
    if SOFFICE is None:
        if os.environ.get("CI"):
            pytest.fail("soffice is missing; .ci/run must install LibreOffice")
        pytest.skip("soffice (LibreOffice) is not installed")
    return SOFFICE


def test_translated_office_files_convert_to_pdf(soffice: str, tmp_path: Path) -> None:
    written: list[Path] = []
    for name, data in FILES:
        doc = open_file(data, file_name=name)
        for translator in (upper, scrambled):
            out = doc.write(outputs(doc, translator), "ru")
            path = tmp_path / f"{translator.__name__}-{name}"
            path.write_bytes(out.content)
            written.append(path)
    profile = tmp_path / "profile"
    result = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path / "pdf"),
            *map(str, written),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for path in written:
        pdf = tmp_path / "pdf" / (path.stem + ".pdf")
        assert pdf.exists(), f"{path.name}: {result.stdout[-1000:]} {result.stderr[-1000:]}"
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 500

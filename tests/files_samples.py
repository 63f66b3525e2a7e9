"""Small files made for the file-format tests, one feature each, built from XML that can be read
here (DOCX), or with python-pptx and openpyxl (PPTX, XLSX); and the attacks."""

from __future__ import annotations

import io
import re
import zipfile
import zlib

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CT = "application/vnd.openxmlformats-officedocument.wordprocessingml"

#: A body with every feature the DOCX reader handles, one paragraph each.
DOCX_BODY = """\
<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:rPr><w:lang w:val="en-US"/></w:rPr><w:t xml:space="preserve">The prime </w:t></w:r><w:r><w:rPr><w:b/><w:lang w:val="en-US"/></w:rPr><w:t>minis</w:t></w:r><w:r><w:rPr><w:b/><w:lang w:val="en-US"/></w:rPr><w:t>ter</w:t></w:r><w:r><w:rPr><w:lang w:val="en-US"/></w:rPr><w:t xml:space="preserve"> resigned on Monday.</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Read the </w:t></w:r><w:hyperlink r:id="rIdLink" w:history="1"><w:r><w:rPr><w:rStyle w:val="Hyperlink"/></w:rPr><w:t>full statement</w:t></w:r></w:hyperlink><w:r><w:t xml:space="preserve"> before the vote.</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">This is page </w:t></w:r><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> PAGE \\* MERGEFORMAT </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>1</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r><w:r><w:t xml:space="preserve"> of the report, dated </w:t></w:r><w:fldSimple w:instr=" DATE \\@ &quot;d MMMM yyyy&quot; "><w:r><w:t>1 May 2024</w:t></w:r></w:fldSimple><w:r><w:t>.</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">The council </w:t></w:r><w:del w:id="1" w:author="Editor" w:date="2024-05-01T10:00:00Z"><w:r><w:delText xml:space="preserve">never </w:delText></w:r></w:del><w:ins w:id="2" w:author="Editor" w:date="2024-05-01T10:00:00Z"><w:r><w:t xml:space="preserve">finally </w:t></w:r></w:ins><w:r><w:t>approved the budget.</w:t></w:r></w:p>
<w:p><w:commentRangeStart w:id="0"/><w:r><w:t>Turnout was the highest since 1992.</w:t></w:r><w:commentRangeEnd w:id="0"/><w:r><w:rPr><w:rStyle w:val="CommentReference"/></w:rPr><w:commentReference w:id="0"/></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Columns:</w:t></w:r><w:r><w:tab/><w:t xml:space="preserve">left and right, with a line</w:t></w:r><w:r><w:br/><w:t>break inside one sentence.</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">See the box. </w:t></w:r><w:r><w:drawing><wp:inline xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" distT="0" distB="0" distL="0" distR="0"><wp:extent cx="1828800" cy="457200"/><wp:docPr id="1" name="Text Box 1"/><a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:graphicData uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"><wps:wsp xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"><wps:cNvSpPr txBox="1"/><wps:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="1828800" cy="457200"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></wps:spPr><wps:txbx><w:txbxContent><w:p><w:r><w:t>Water levels are still rising.</w:t></w:r></w:p></w:txbxContent></wps:txbx><wps:bodyPr/></wps:wsp></a:graphicData></a:graphic></wp:inline></w:drawing></w:r><w:r><w:t>Roads stay closed.</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Officials</w:t></w:r><w:r><w:rPr><w:rStyle w:val="FootnoteReference"/></w:rPr><w:footnoteReference w:id="1"/></w:r><w:r><w:t xml:space="preserve"> said more rain is expected.</w:t></w:r></w:p>
<w:tbl><w:tblPr><w:tblW w:w="0" w:type="auto"/></w:tblPr><w:tblGrid><w:gridCol w:w="4000"/><w:gridCol w:w="4000"/></w:tblGrid><w:tr><w:tc><w:tcPr><w:tcW w:w="4000" w:type="dxa"/></w:tcPr><w:p><w:r><w:t>Party</w:t></w:r></w:p></w:tc><w:tc><w:tcPr><w:tcW w:w="4000" w:type="dxa"/></w:tcPr><w:p><w:r><w:t>Seats won</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
<w:p><w:r><w:t>Visit https://example.com/vote?id=1&amp;lang=en for results.</w:t></w:r></w:p>
"""

FOOTNOTES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:footnotes xmlns:w="{W}"><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote><w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p></w:footnote><w:footnote w:id="1"><w:p><w:r><w:rPr><w:rStyle w:val="FootnoteReference"/></w:rPr><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> According to the national weather service.</w:t></w:r></w:p></w:footnote></w:footnotes>"""
HEADER = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:hdr xmlns:w="{W}"><w:p><w:r><w:t>Daily briefing, for internal use.</w:t></w:r></w:p></w:hdr>"""
FOOTER = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:ftr xmlns:w="{W}"><w:p><w:r><w:t xml:space="preserve">Page </w:t></w:r><w:fldSimple w:instr=" PAGE "><w:r><w:t>1</w:t></w:r></w:fldSimple></w:p></w:ftr>"""
COMMENTS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:comments xmlns:w="{W}"><w:comment w:id="0" w:author="Editor" w:date="2024-05-01T10:00:00Z" w:initials="E"><w:p><w:r><w:t>Check this figure.</w:t></w:r></w:p></w:comment></w:comments>"""


def _base_docx() -> dict[str, bytes]:
    import docx

    out = io.BytesIO()
    docx.Document().save(out)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as z:
        return {name: z.read(name) for name in z.namelist()}


def docx_file(body: str = DOCX_BODY, *, extras: bool = True) -> bytes:
    """A DOCX (python-docx's default package) with `body`, and a header, a footer, footnotes
    and a comment when `extras`."""
    parts = _base_docx()
    sect = '<w:sectPr><w:pgSz w:w="12240" w:h="15840"/></w:sectPr>'
    if extras:
        sect = (
            '<w:sectPr><w:headerReference w:type="default" r:id="rIdHdr"/>'
            '<w:footerReference w:type="default" r:id="rIdFtr"/>'
            '<w:pgSz w:w="12240" w:h="15840"/></w:sectPr>'
        )
    parts["word/document.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<w:document xmlns:w="{W}" xmlns:r="{R}"><w:body>{body}{sect}</w:body></w:document>'
    ).encode()
    rels = parts["word/_rels/document.xml.rels"].decode()
    added = (
        f'<Relationship Id="rIdLink" Type="{R}/hyperlink" Target="https://example.com/statement" '
        'TargetMode="External"/>'
    )
    types = parts["[Content_Types].xml"].decode()
    if extras:
        parts["word/footnotes.xml"] = FOOTNOTES.encode()
        parts["word/header1.xml"] = HEADER.encode()
        parts["word/footer1.xml"] = FOOTER.encode()
        parts["word/comments.xml"] = COMMENTS.encode()
        added += (
            f'<Relationship Id="rIdFn" Type="{R}/footnotes" Target="footnotes.xml"/>'
            f'<Relationship Id="rIdHdr" Type="{R}/header" Target="header1.xml"/>'
            f'<Relationship Id="rIdFtr" Type="{R}/footer" Target="footer1.xml"/>'
            f'<Relationship Id="rIdCm" Type="{R}/comments" Target="comments.xml"/>'
        )
        types = types.replace(
            "</Types>",
            f'<Override PartName="/word/footnotes.xml" ContentType="{CT}.footnotes+xml"/>'
            f'<Override PartName="/word/header1.xml" ContentType="{CT}.header+xml"/>'
            f'<Override PartName="/word/footer1.xml" ContentType="{CT}.footer+xml"/>'
            f'<Override PartName="/word/comments.xml" ContentType="{CT}.comments+xml"/>'
            "</Types>",
        )
    parts["word/_rels/document.xml.rels"] = rels.replace(
        "</Relationships>", added + "</Relationships>"
    ).encode()
    parts["[Content_Types].xml"] = types.encode()
    return zip_of(parts)


def zip_of(parts: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        ct = parts.get("[Content_Types].xml")
        if ct is not None:
            z.writestr("[Content_Types].xml", ct)
        for name, data in parts.items():
            if name != "[Content_Types].xml":
                z.writestr(name, data)
    return out.getvalue()


def pptx_file() -> bytes:
    """Two slides (a title whose bold run splits a sentence, a table, a line break), notes."""
    import pptx
    from pptx.util import Inches

    prs = pptx.Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = "Election results"
    body = slide.placeholders[1].text_frame
    p = body.paragraphs[0]
    for text, bold in (
        ("Labour won ", False),
        ("a clear", True),
        (" majority on Thursday.", False),
    ):
        run = p.add_run()
        run.text = text
        run.font.bold = bold
        run.font.language_id = 1033  # en-US: writes lang="en-US"
    p2 = body.add_paragraph()
    p2.text = "Turnout rose\vfor the first time since 1992."
    slide.notes_slide.notes_text_frame.text = "Mention the recount in two districts."
    second = prs.slides.add_slide(prs.slide_layouts[5])
    second.shapes.title.text = "Seats by party"
    table = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1)).table
    for (r, c), text in {(0, 0): "Party", (0, 1): "Seats", (1, 0): "Labour", (1, 1): "412"}.items():
        table.cell(r, c).text = text
    out = io.BytesIO()
    prs.save(out)
    return out.getvalue()


S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def xlsx_file() -> bytes:
    """Plain and rich shared strings, an inline string, a formula, numbers, a date; two sheets,
    one named with a space."""
    import datetime

    import openpyxl
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Results"
    ws["A1"] = "Party"
    ws["B1"] = "Seats"
    ws["A2"] = "Labour"
    ws["B2"] = 412
    ws["A3"] = CellRichText(
        "The ", TextBlock(InlineFont(b=True), "ruling party"), " lost its majority."
    )
    ws["B3"] = "=SUM(B2:B2)"
    ws["A4"] = datetime.date(2024, 7, 4)
    ws["A5"] = "Labour"  # the same shared string as A2
    other = wb.create_sheet("Vote share")
    other["A1"] = "Turnout was low."
    other["B1"] = 0.6
    out = io.BytesIO()
    wb.save(out)
    parts = _parts(out.getvalue())
    # openpyxl writes every string inline; Excel writes shared strings. Make them shared, but
    # for one inline string (C1), as other producers write.
    shared: list[str] = []
    cell = re.compile(r'<c r="([A-Z]+\d+)" t="inlineStr"><is>(.*?)</is></c>')

    def to_shared(m: re.Match[str]) -> str:
        if m.group(2) not in shared:
            shared.append(m.group(2))
        return f'<c r="{m.group(1)}" t="s"><v>{shared.index(m.group(2))}</v></c>'

    for name in ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"):
        parts[name] = cell.sub(to_shared, parts[name].decode()).encode()
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(
        "</row>", '<c r="C1" t="inlineStr"><is><t>Seats won in the vote</t></is></c></row>', 1
    ).encode()
    items = "".join(f"<si>{x}</si>" for x in shared)
    parts["xl/sharedStrings.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{S}" '
        f'count="{len(shared)}" uniqueCount="{len(shared)}">{items}</sst>'
    ).encode()
    types = parts["[Content_Types].xml"].decode()
    parts["[Content_Types].xml"] = types.replace(
        "</Types>",
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    ).encode()
    rels = parts["xl/_rels/workbook.xml.rels"].decode()
    parts["xl/_rels/workbook.xml.rels"] = rels.replace(
        "</Relationships>",
        f'<Relationship Type="{R}/sharedStrings" Target="sharedStrings.xml" Id="rIdSst"/>'
        "</Relationships>",
    ).encode()
    return zip_of(parts)


def _parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


# -- attacks --------------------------------------------------------------------------------


def zip_bomb() -> bytes:
    """A DOCX whose document part inflates 1000:1 (64 MiB of zeros)."""
    parts = _parts(docx_file(extras=False))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
        info = zipfile.ZipInfo("word/media/padding.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w") as f:
            chunk = bytes(1 << 20)
            for _ in range(64):
                f.write(chunk)
    return out.getvalue()


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + f']>\n<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>'
)
XXE = (
    '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
    '<xliff version="1.2" xmlns="urn:oasis:names:tc:xliff:document:1.2"><file source-language="en" '
    'datatype="plaintext" original="x"><body><trans-unit id="1"><source>&secret;</source>'
    "</trans-unit></body></file></xliff>"
)


def with_part(data: bytes, name: str, content: bytes, content_type: str | None = None) -> bytes:
    parts = _parts(data)
    parts[name] = content
    if content_type:
        types = parts["[Content_Types].xml"].decode()
        parts["[Content_Types].xml"] = types.replace(
            "</Types>", f'<Override PartName="/{name}" ContentType="{content_type}"/></Types>'
        ).encode()
    return zip_of(parts)


def encrypted() -> bytes:
    """What Office writes for a password-protected file: an OLE compound file holding an
    "EncryptedPackage" stream (header and directory entry only; enough for the check)."""
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    entry = bytearray(128)
    name = "EncryptedPackage".encode("utf-16-le") + b"\0\0"
    entry[: len(name)] = name
    return bytes(header) + bytes(entry) + zlib.compress(b"x" * 1000)

"""A name that starts like a spreadsheet formula does not go verbatim into the export
CSVs (a cell `=HYPERLINK(…)` would run when the national system's staff open the file); a value far
beyond any plausible one formats instead of crashing the region's export."""

from __future__ import annotations

from decimal import Decimal

from orchestration.lib.export.exporter import _num, _text


def test_formula_like_text_cells_are_quoted_and_numbers_are_not():
    assert _text('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert _text("+86 某公司") == "'+86 某公司" and _text("@SUM(A1)") == "'@SUM(A1)"
    assert _text("河北某钢铁有限公司") == "河北某钢铁有限公司"
    assert _text(-3) == "-3" and _text(Decimal("-1.5"), "tce") == "-1.500"


def test_a_huge_value_formats_with_its_places_instead_of_raising():
    assert _num(Decimal("1e25"), "tce") == 1e25
    assert _num(Decimal("12.34567"), "tce") == 12.346

"""The papers' cost tables recomputed: paper | ours | difference."""

import pytest

from mobilenets.cost.paper_tables import PAPER_TABLES, PAPERS
from mobilenets.cost.reproduce import compare_with_paper, mult_adds_grid


def test_v1_tables_2_4_6_7() -> None:
    tables = compare_with_paper("v1")
    assert [t.title.split(":")[0] for t in tables] == ["V1 Table 2", "V1 Table 4", "V1 Table 6", "V1 Table 7"]
    table2 = {(r.label, r.quantity): r for r in tables[0].rows}
    misprint = table2[("Conv 3x3", "Mult-Adds %")]
    assert misprint.paper == 1.19 and round(misprint.ours, 2) == 1.91 and "misprint" in misprint.note
    assert misprint.exact == 10_838_016  # 112 x 112 outputs x 27 inputs x 32 filters
    for (label, quantity), row in table2.items():
        if (label, quantity) != ("Conv 3x3", "Mult-Adds %"):
            assert abs(row.difference) <= 0.02, row
    for table in tables[2:]:  # Tables 6 and 7: within a million Mult-Adds, 0.05 M parameters
        for row in table.rows:
            assert abs(row.difference) <= (1.0 if row.quantity.startswith("Mult") else 0.05), row
    conv_mobilenet = {r.quantity: r for r in tables[1].rows if r.label == "Conv MobileNet"}
    assert conv_mobilenet["Mult-Adds (M)"].ours == pytest.approx(4866, rel=0.01)
    assert conv_mobilenet["params (M)"].ours == pytest.approx(29.3, rel=0.01)


@pytest.mark.parametrize("paper", ["v2", "v3"])
def test_v2_v3_rows_show_paper_and_exact_counts(paper: str) -> None:
    (table,) = compare_with_paper(paper)
    published = {cost.label: cost for cost in PAPER_TABLES[paper][0].costs}  # type: ignore[index]
    for row in table.rows:
        cost = published[row.label]
        expected = cost.mult_adds if row.quantity.startswith("Mult") else cost.params
        assert row.paper == expected
        assert row.exact is not None and row.ours == row.exact / 1e6
        assert row.difference == pytest.approx(row.ours - row.paper)


def test_unknown_paper() -> None:
    assert PAPERS == ("v1", "v2", "v3")
    with pytest.raises(ValueError, match=r"paper='v4' is unknown"):
        compare_with_paper("v4")


def test_grid_rows_and_columns() -> None:
    grid = mult_adds_grid((1.0, 0.5), (224, 128))
    assert grid[0] == [568_740_352, 186_400_768]  # Table 7's first and last rows, exact
    assert grid[1][0] < grid[0][0] and grid[1][1] < grid[1][0]
    with pytest.raises(ValueError, match="at least one width"):
        mult_adds_grid((), (224,))

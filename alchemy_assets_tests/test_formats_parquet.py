from decimal import Decimal

import pyarrow as pa

from alchemy_assets.formats.parquet import describe_table


def test_a_table_keeps_its_arrow_types_and_shows_exotic_values_as_text() -> None:
    table = pa.table(
        {
            "d": pa.array([Decimal("1.50")], pa.decimal256(40, 2)),
            "t": pa.array([0], pa.timestamp("us", tz="+05:30")),
            "m": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())),
        }
    )
    contents = describe_table(table)
    assert contents.columns == (
        ("d", "decimal256(40, 2)"),
        ("t", "timestamp[us, tz=+05:30]"),
        ("m", "map<string, int64>"),
    )
    assert contents.head == (("1.50", "1970-01-01 05:30:00+05:30", '[["k", 1]]'),)

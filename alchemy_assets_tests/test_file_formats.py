import pytest

from alchemy_assets.file_formats import data_extension, sample_relpath, split_extension


def test_split_extension_keeps_the_compression_suffix() -> None:
    assert split_extension("data.csv.gz") == ("data", ".csv.gz")
    assert split_extension("data.csv") == ("data", ".csv")
    assert split_extension("archive.gz") == ("archive", ".gz")
    assert split_extension("data.csv.bz2") == ("data", ".csv.bz2")
    assert split_extension("gics.psv.xz") == ("gics", ".psv.xz")
    assert split_extension("d.TXT.ZST") == ("d", ".TXT.ZST")
    assert data_extension("raw/env0/d.TXT.ZST") == (".txt", ".zst")
    assert data_extension("d.gz") == ("", ".gz")


def test_the_sample_path_keeps_env_and_sub_folders() -> None:
    assert sample_relpath("raw/env0/data.csv") == "samples/env0/data_sample.csv"
    assert sample_relpath("raw/env1/data.csv") == "samples/env1/data_sample.csv"
    assert sample_relpath("raw/env0/a/b/x.csv.gz") == "samples/env0/a/b/x_sample.csv.gz"
    assert sample_relpath("raw/env0/data.csv.bz2") == "samples/env0/data_sample.csv.bz2"
    assert sample_relpath("raw/env0/gics.txt") == "samples/env0/gics_sample.txt"
    with pytest.raises(ValueError, match="is not under raw/"):
        sample_relpath("bronze/x.csv")


def test_a_sample_name_too_long_for_the_file_system_is_shortened_uniquely() -> None:
    long_a, long_b = "é" * 124 + "a.csv", "é" * 124 + "b.csv"
    a, b = sample_relpath(f"raw/env0/{long_a}"), sample_relpath(f"raw/env0/{long_b}")
    name_a = a.rsplit("/", 1)[1]
    assert a != b and name_a.endswith("_sample.csv") and "~" in name_a
    assert len(name_a.encode()) <= 255
    assert sample_relpath("raw/env0/short.csv") == "samples/env0/short_sample.csv"

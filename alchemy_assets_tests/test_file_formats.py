import itertools
import posixpath

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from alchemy_assets.confined import aux_name
from alchemy_assets.file_formats import data_extension, encoded, sample_relpath, split_extension
from alchemy_assets.formats.registry import READERS


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


def test_a_raw_name_whose_extension_alone_is_too_long_still_gets_a_sample_name_that_fits() -> None:
    a, b = (sample_relpath(f"raw/env0/a.{c * 250}").rsplit("/", 1)[1] for c in "xy")
    assert a != b and a.endswith("_sample") and len(a.encode()) == len(b.encode()) <= 255


def test_a_folder_named_like_a_sample_gets_a_tilde_after_its_sample() -> None:
    assert sample_relpath("raw/env0/x.csv") == "samples/env0/x_sample.csv"
    assert (
        sample_relpath("raw/env0/x_sample.csv/y.csv") == "samples/env0/x_sample~.csv/y_sample.csv"
    )
    assert sample_relpath("raw/x_sample/y.csv") == "samples/x_sample~/y_sample.csv"
    assert sample_relpath("raw/e/x_sample~/y.csv") == "samples/e/x_sample~~/y_sample.csv"
    assert sample_relpath("raw/e/.x_sample.csv.lock/y.csv") == (
        "samples/e/.x_sample~.csv.lock/y_sample.csv"
    )


def test_a_folder_with_sample_inside_a_word_keeps_its_name() -> None:
    assert sample_relpath("raw/env0/my_samples/sub_sampled/y.csv") == (
        "samples/env0/my_samples/sub_sampled/y_sample.csv"
    )


# Pieces that make names look like samples, side files, extensions and each other's escapes.
_PIECES = st.sampled_from(
    ["a", "x", ".", "_", "_sample", "~", ".csv", ".gz", ".GZ", ".lock", "é", " ", "\n", "0"]
)
_NAMES = (
    st.tuples(
        st.lists(_PIECES, min_size=1, max_size=6).map("".join),
        st.sampled_from([0, 0, 0, 120, 244, 250, 255]),  # how many bytes of padding
        st.sampled_from(["a", "é"]),
    )
    .map(lambda t: t[2] * (t[1] // len(encoded(t[2]))) + t[0])
    .filter(lambda n: n not in (".", "..") and 0 < len(encoded(n)) <= 255)
)
_RAW_PATHS = st.lists(_NAMES, min_size=1, max_size=4).map(lambda parts: "/".join(["raw", *parts]))


def _side_files(sample: str) -> list[str]:
    folder, name = posixpath.split(sample)
    return [posixpath.join(folder, aux_name(name, s)) for s in (".lock", ".source.json")]


@settings(max_examples=400, deadline=None)
@given(st.lists(_RAW_PATHS, min_size=2, max_size=8, unique=True))
@example(["raw/env0/x.csv", "raw/env0/x_sample.csv/y.csv"])
@example(["raw/env0/x.csv", "raw/env0/.x_sample.csv.lock/y.csv"])
@example(["raw/e/x_sample/y.csv", "raw/e/x_sample~/y.csv"])
def test_distinct_raw_paths_never_share_a_sample_path_or_make_one_a_folder_of_another(
    raws: list[str],
) -> None:
    samples = {raw: sample_relpath(raw) for raw in raws}
    assert len(set(samples.values())) == len(raws), samples
    for a, b in itertools.permutations(raws, 2):
        kept = [samples[a], *_side_files(samples[a])]
        assert not any(samples[b].startswith(path + "/") for path in kept), (a, b, samples)
        if _known(a):
            assert samples[a] not in _side_files(samples[b]), (a, b)
    for sample in samples.values():
        assert all(0 < len(encoded(part)) <= 255 for part in sample.split("/")), sample


def _known(raw: str) -> bool:
    """Whether a file of this name is sampled (a name is all there is here to judge by)."""
    return data_extension(raw)[0] in {ext for reader in READERS for ext in reader.extensions}


@settings(max_examples=300, deadline=None)
@given(_NAMES)
def test_the_raw_file_name_is_read_back_from_its_unshortened_sample_name(name: str) -> None:
    sample = sample_relpath(f"raw/env0/{name}").rsplit("/", 1)[1]
    if len(encoded(name + "_sample")) > 255:
        return  # shortened with a hash: told apart by the hash instead
    stem, ext = split_extension(sample)
    assert stem.endswith("_sample") and stem[: -len("_sample")] + ext == name

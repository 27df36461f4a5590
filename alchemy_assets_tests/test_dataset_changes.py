import json

from alchemy_assets.dataset_changes import (
    REPEAT_AFTER_SECONDS,
    DatasetChanges,
    ReloadRequest,
    compare,
    reload_due,
)


def test_the_same_datasets_in_another_order_are_no_change() -> None:
    changes = compare(["a/b/1", "c/d/2"], ["c/d/2", "a/b/1"])
    assert not changes
    assert changes == DatasetChanges()


def test_a_new_dataset_folder_is_added_and_a_gone_one_removed() -> None:
    changes = compare(["a/b/1", "c/d/2"], ["c/d/2", "e/f/3", "a/a/1"])
    assert changes == DatasetChanges(added=("a/a/1", "e/f/3"), removed=("a/b/1",))
    assert changes.describe() == "datasets a/a/1, e/f/3 appeared; dataset a/b/1 was removed"


def test_the_description_names_one_dataset_in_the_singular() -> None:
    assert compare([], ["sp/new/1"]).describe() == "dataset sp/new/1 appeared"
    assert compare(["x/y/1", "x/y/2"], []).describe() == "datasets x/y/1, x/y/2 were removed"


def test_a_reload_is_due_without_an_earlier_request() -> None:
    assert reload_due(["a/b/1"], None, at=100.0)


def test_a_reload_asked_for_these_datasets_is_not_asked_again_soon() -> None:
    last = ReloadRequest(("a/b/1", "c/d/2"), at=100.0)
    assert not reload_due(["c/d/2", "a/b/1"], last, at=100.0 + REPEAT_AFTER_SECONDS - 1)
    assert reload_due(["c/d/2", "a/b/1"], last, at=100.0 + REPEAT_AFTER_SECONDS)


def test_a_reload_is_due_at_once_when_the_datasets_changed_again() -> None:
    last = ReloadRequest(("a/b/1",), at=100.0)
    assert reload_due(["a/b/1", "c/d/2"], last, at=101.0)


def test_the_cursor_is_versioned_json_and_reads_back() -> None:
    request = ReloadRequest(("a/b/1", "c/d/2"), at=1764000000.5)
    text = request.serialize()
    assert json.loads(text) == {"v": 1, "datasets": ["a/b/1", "c/d/2"], "at": 1764000000.5}
    assert ReloadRequest.parse(text) == request


def test_no_cursor_or_one_of_another_version_or_shape_is_no_request() -> None:
    assert ReloadRequest.parse(None) is None
    assert ReloadRequest.parse("") is None
    assert ReloadRequest.parse('{"v": 2, "datasets": [], "at": 1}') is None
    assert ReloadRequest.parse('{"v": 1}') is None
    assert ReloadRequest.parse("[1]") is None
    assert ReloadRequest.parse("not json") is None

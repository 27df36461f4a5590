"""StoreRoot against moto's S3 server: conditional writes, listing, ranged reads, and the
faults an object store has (unreachable, throttled, credentials wrong or missing, no bucket),
each one StoreError of one line naming the key."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from alchemy_assets.object_store import (
    StoreAccessError,
    StoreError,
    StoreExistsError,
    StoreMissingError,
    StorePreconditionError,
    StoreRoot,
    is_store_url,
    retry_settings,
)
from alchemy_assets_tests.s3 import (
    REGION,
    FaultProxy,
    S3Server,
    closed_port,
    moto_process,
)


@pytest.fixture
def root(s3_root: str) -> StoreRoot:
    return StoreRoot.open(s3_root)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two retries within two seconds: a fault test gives up quickly."""
    monkeypatch.setenv("ALCHEMY_STORE_RETRIES", "2")
    monkeypatch.setenv("ALCHEMY_STORE_RETRY_SECONDS", "2")


def one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and "Debug source" not in text, text
    return text


# -- Opening a root --


def test_a_store_url_is_told_from_a_folder() -> None:
    assert is_store_url("s3://lake/fp") and is_store_url("gs://lake") and is_store_url("az://c/p")
    assert not is_store_url("/data/fp") and not is_store_url("ftp://host/fp")


@pytest.mark.parametrize(
    "url", ["s3://", "s3:///fp", "s3://lake//fp", "s3://lake/fp/../x", "s3://lake/./fp"]
)
def test_a_url_with_no_bucket_or_a_bad_segment_is_refused(s3_root: str, url: str) -> None:
    with pytest.raises(StoreError, match="data root"):
        StoreRoot.open(url)


def test_the_root_url_drops_a_trailing_slash(s3_root: str) -> None:
    assert StoreRoot.open(s3_root + "/").url == s3_root


def test_retry_settings_are_read_when_a_root_is_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALCHEMY_STORE_RETRIES", "3")
    monkeypatch.setenv("ALCHEMY_STORE_RETRY_SECONDS", "1.5")
    assert retry_settings() == (3, 1.5)
    monkeypatch.delenv("ALCHEMY_STORE_RETRIES")
    monkeypatch.delenv("ALCHEMY_STORE_RETRY_SECONDS")
    assert retry_settings() == (5, 60.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [("ALCHEMY_STORE_RETRIES", "many"), ("ALCHEMY_STORE_RETRY_SECONDS", "-1")],
)
def test_a_bad_retry_setting_is_refused_naming_the_variable(
    s3_root: str, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(StoreError, match=f"{name}='{value}'"):
        StoreRoot.open(s3_root)


# -- Objects --


def test_an_object_put_is_read_back_with_its_size_and_etag(root: StoreRoot) -> None:
    etag = root.put("a/x.csv", b"hello")
    info = root.head("a/x.csv")
    assert (info.key, info.size, info.etag) == ("a/x.csv", 5, etag)  # keys are relative to the root
    assert info.mtime > 0
    assert root.get("a/x.csv") == b"hello" and root.exists("a/x.csv")


def test_a_missing_key_is_a_store_missing_error_naming_its_url(root: StoreRoot) -> None:
    for read in (root.get, root.head):
        with pytest.raises(StoreMissingError, match=f"{root.url}/nothing/here: "):
            read("nothing/here")
    assert not root.exists("nothing/here")


def test_deleting_a_missing_key_is_no_error(root: StoreRoot) -> None:
    root.put("k", b"1")
    root.delete("k")
    root.delete("k")
    assert not root.exists("k")


def test_a_second_conditional_put_is_refused_and_leaves_the_first(root: StoreRoot) -> None:
    root.put("seg", b"first", if_absent=True)
    with pytest.raises(StoreExistsError, match=f"{root.url}/seg: PUT failed") as caught:
        root.put("seg", b"second", if_absent=True)
    one_line(caught.value)
    assert root.get("seg") == b"first"


def test_a_put_pinned_to_a_stale_etag_is_refused(root: StoreRoot) -> None:
    stale = root.put("k", b"v1")
    current = root.put("k", b"v2", etag=stale)
    with pytest.raises(StorePreconditionError, match=f"{root.url}/k: PUT failed"):
        root.put("k", b"v3", etag=stale)
    assert root.get("k") == b"v2"
    assert root.head("k").etag == current


def test_a_get_pinned_to_a_stale_etag_is_refused(root: StoreRoot) -> None:
    stale = root.put("k", b"v1")
    root.put("k", b"v2")
    with pytest.raises(StorePreconditionError, match=f"{root.url}/k: GET failed"):
        root.get("k", etag=stale)
    with pytest.raises(StorePreconditionError, match="GET bytes 0-1 failed"):
        root.get_range("k", 0, 1, etag=stale)


def test_copy_if_absent_copies_and_refuses_an_existing_target(root: StoreRoot) -> None:
    root.put("raw/a.csv", b"new")
    root.put("bronze/old.csv", b"old")
    root.copy_if_absent("raw/a.csv", "bronze/a.csv")
    assert root.get("bronze/a.csv") == b"new"
    with pytest.raises(StoreExistsError, match=f"{root.url}/bronze/old.csv: COPY from raw/a.csv"):
        root.copy_if_absent("raw/a.csv", "bronze/old.csv")
    assert root.get("bronze/old.csv") == b"old"


def test_get_range_reads_only_the_bytes_asked(root: StoreRoot) -> None:
    etag = root.put("k", bytes(range(100)))
    assert root.get_range("k", 10, 20) == bytes(range(10, 20))
    assert root.get_range("k", 95, 100, etag=etag) == bytes(range(95, 100))


# -- Listing --


def test_a_listing_of_more_than_a_page_returns_every_key_in_order(
    s3_root: str, s3_proxy: FaultProxy
) -> None:
    root = StoreRoot.open(s3_root)
    keys = [f"many/{i:05d}" for i in range(1203)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: root.put(key, b"x"), keys))
    listed = [info.key for info in root.objects("many/")]
    assert listed == keys
    # Two pages of 1,000 keys at most, the second asked after the first's last key.
    assert s3_proxy.listings() == 2
    after = [info.key for info in root.objects("many/", start_after="many/01100")]
    assert after == keys[1101:]


def test_folders_are_the_names_directly_under_a_prefix(root: StoreRoot) -> None:
    for key in ("sp/gics/1.0/raw/a", "sp/gics/2.0/raw/b", "acme/prices/2/raw/c", "top.txt"):
        root.put(key, b"x")
    assert root.folders("") == ["acme", "sp"]
    assert root.folders("sp/gics/") == ["1.0", "2.0"]
    assert root.folders("nothing/") == []


# -- Faults --


def test_an_unreachable_store_fails_at_once_naming_the_key_and_reachability(
    s3_root: str, fast_retries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    root = StoreRoot.open(s3_root)
    with pytest.raises(StoreError) as caught:
        root.get("sp/gics/1.0/manifests/processed/x.jsonl")
    text = one_line(caught.value)
    assert f"{s3_root}/sp/gics/1.0/manifests/processed/x.jsonl: GET failed" in text
    assert "is the store reachable? check AWS_ENDPOINT_URL" in text
    with pytest.raises(StoreError, match="reachable"):
        list(root.objects("sp/"))


def test_throttling_answers_are_retried_until_the_store_answers(
    s3_root: str, s3_proxy: FaultProxy, fast_retries: None
) -> None:
    root = StoreRoot.open(s3_root)
    s3_proxy.fail_first = 2
    root.put("k", b"v")
    assert s3_proxy.failed == 2 and s3_proxy.count("PUT", "fp/k") == 3
    s3_proxy.fail_first = len(s3_proxy.requests) + 2
    assert root.get("k") == b"v"
    assert s3_proxy.failed == 4


def test_throttling_past_the_retries_gives_up_naming_the_key(
    s3_root: str, s3_proxy: FaultProxy, fast_retries: None
) -> None:
    root = StoreRoot.open(s3_root)
    root.put("hot/k", b"v")
    s3_proxy.fail_key = "fp/hot/k"
    with pytest.raises(StoreError) as caught:
        root.get("hot/k")
    text = one_line(caught.value)
    assert f"{s3_root}/hot/k: GET failed" in text and "503" in text
    assert "after 2 retries" in text
    assert s3_proxy.count("GET", "fp/hot/k") == 3  # the first try and two retries
    s3_proxy.failing = False
    assert root.get("hot/k") == b"v"


def test_a_missing_bucket_is_a_store_missing_error_saying_so(
    s3_server: S3Server, s3_root: str
) -> None:
    root = StoreRoot.open("s3://no-such-bucket-here/fp")
    for call in (lambda: root.get("k"), lambda: list(root.objects("")), lambda: root.folders("")):
        with pytest.raises(StoreMissingError) as caught:
            call()
        assert "the bucket does not exist" in one_line(caught.value)


def test_wrong_credentials_are_a_store_access_error_that_never_shows_the_secret(
    s3_root: str, fast_retries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    # moto checks keys and signatures once its first N unauthenticated actions are used up:
    # here the four that make a user with a key, its policy and the bucket.
    with moto_process({"INITIAL_NO_AUTH_ACTION_COUNT": "4"}) as server:
        iam = boto3.client(
            "iam",
            endpoint_url=server.endpoint,
            region_name=REGION,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="ingest")
        key = iam.create_access_key(UserName="ingest")["AccessKey"]
        statement = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        iam.put_user_policy(UserName="ingest", PolicyName="all", PolicyDocument=json.dumps(policy))
        s3 = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        s3.create_bucket(Bucket="lake")
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        StoreRoot.open("s3://lake/fp").put("k", b"v")  # the right pair works

        wrong_secret = "wrong-secret-0123456789abcdef"
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong_secret)
        root = StoreRoot.open("s3://lake/fp")
        for call in (lambda: root.get("k"), lambda: root.put("k", b"w"), lambda: root.folders("")):
            with pytest.raises(StoreAccessError) as caught:
                call()
            text = one_line(caught.value)
            assert "SignatureDoesNotMatch" in text and "check the credentials" in text
            assert wrong_secret not in text and key["SecretAccessKey"] not in text

        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOSUCHKEY0000000")
        with pytest.raises(StoreAccessError, match="InvalidAccessKeyId") as caught:
            StoreRoot.open("s3://lake/fp").get("k")
        assert wrong_secret not in one_line(caught.value)


def test_missing_credentials_with_instance_metadata_disabled_are_refused_before_any_request(
    s3_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StoreAccessError) as caught:
        StoreRoot.open(s3_root)
    text = one_line(caught.value)
    assert text.startswith(f"data root {s3_root}: no credentials: set one of AWS_ACCESS_KEY_ID")
    assert "AWS_PROFILE" in text and "AWS_EC2_METADATA_DISABLED" in text


def test_missing_credentials_and_no_instance_role_say_what_to_set(
    s3_root: str, fast_retries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    # The instance metadata endpoint is not there (as off EC2): here a port nothing answers on.
    monkeypatch.setenv("AWS_METADATA_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    root = StoreRoot.open(s3_root)
    with pytest.raises(StoreAccessError) as caught:
        root.get("k")
    text = one_line(caught.value)
    assert text.startswith(f"{s3_root}/k: GET failed: no credentials: none of AWS_ACCESS_KEY_ID")
    assert "the instance metadata endpoint gave no instance role" in text


def test_half_a_key_pair_is_refused_naming_the_missing_variable(
    s3_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(
        StoreAccessError, match="AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
    ):
        StoreRoot.open(s3_root)

"""The fetch code against a real HTTP server on 127.0.0.1: fallbacks, retries, verification."""

import hashlib
import subprocess
import sys

import pytest
import yaml

from mnist_pipeline.fetch import Expected, FetchError, fetch_dataset, file_md5

from conftest import ROOT

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB: several chunks, so a dropped stream is mid-file
GOOD = Expected(size=len(PAYLOAD), md5=hashlib.md5(PAYLOAD).hexdigest())


def no_sleep(seconds):
    pass


def fetch(sources, dest, expected=GOOD, **kwargs):
    kwargs.setdefault("sleep", no_sleep)
    return fetch_dataset(sources, dest, expected, timeout_s=5, **kwargs)


def test_downloads_and_verifies(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD)
    dest = tmp_path / "raw" / "mnist.pkl.gz"
    assert fetch([url], dest) == url
    assert dest.read_bytes() == PAYLOAD
    assert list(dest.parent.iterdir()) == [dest]  # no temporary file left behind


def test_404_moves_on_to_the_mirror_at_once(http_server, tmp_path):
    missing = http_server.url("gone.pkl.gz")
    mirror = http_server.serve("mirror/mnist.pkl.gz", PAYLOAD)
    slept = []
    assert fetch([missing, mirror], tmp_path / "out", sleep=slept.append) == mirror
    assert http_server.requests.count("/gone.pkl.gz") == 1
    assert slept == []


def test_dropped_connection_is_retried_with_backoff(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD, "drop", "drop", "ok")
    slept = []
    fetch([url], tmp_path / "out", sleep=slept.append, retries=3, retry_backoff_s=0.5)
    assert (tmp_path / "out").read_bytes() == PAYLOAD
    assert slept == [0.5, 1.0]


def test_5xx_is_retried_then_gives_up(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD, "503")
    with pytest.raises(FetchError, match=r"HTTP 503 \(after 3 attempts\)"):
        fetch([url], tmp_path / "out", retries=2)
    assert http_server.requests.count("/mnist.pkl.gz") == 3
    assert not (tmp_path / "out").exists()


def test_md5_mismatch_everywhere_lists_every_source_and_leaves_nothing(http_server, tmp_path):
    corrupt = PAYLOAD[:-1] + b"\x00"
    first = http_server.serve("a.pkl.gz", corrupt)
    local = tmp_path / "copy.pkl.gz"
    local.write_bytes(corrupt)
    sources = [first, local.as_uri(), str(local), http_server.url("missing")]
    with pytest.raises(FetchError) as err:
        fetch(sources, tmp_path / "raw" / "mnist.pkl.gz")
    message = str(err.value)
    for source in sources:
        assert source in message
    assert message.count("md5 mismatch") == 3
    assert "HTTP 404" in message
    assert list((tmp_path / "raw").iterdir()) == []


def test_size_mismatch_is_caught_before_md5(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD[:-5])
    with pytest.raises(FetchError, match=f"got {len(PAYLOAD) - 5} bytes, expected {len(PAYLOAD)}"):
        fetch([url], tmp_path / "out")


def test_a_download_longer_than_the_expected_size_is_cut_off(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD * 3)
    with pytest.raises(FetchError, match=f"more than the expected {len(PAYLOAD)} bytes"):
        fetch([url], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_file_url_and_plain_path_mirrors(tmp_path):
    local = tmp_path / "mirror.pkl.gz"
    local.write_bytes(PAYLOAD)
    fetch([local.as_uri()], tmp_path / "a")
    fetch([str(local)], tmp_path / "b")
    assert file_md5(tmp_path / "a") == file_md5(tmp_path / "b") == GOOD.md5


def test_unsupported_scheme_is_a_clear_failure(tmp_path):
    with pytest.raises(FetchError, match="unsupported scheme 'ftp'"):
        fetch(["ftp://example.invalid/mnist.pkl.gz"], tmp_path / "out")


def test_null_md5_skips_the_check_with_a_warning(http_server, tmp_path, caplog):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD)
    fetch([url], tmp_path / "out", Expected(size=None, md5=None))
    assert "will not be verified" in caplog.text


def run_fetch_stage(tmp_path, url, mirrors, md5):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(url=url, mirrors=mirrors, md5=md5, size=len(PAYLOAD), retries=1,
                          retry_backoff_s=0.01)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / "fetch.py"), "data/raw/mnist.pkl.gz"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )


def test_stage_falls_back_from_404_to_a_good_mirror(http_server, tmp_path):
    mirror = http_server.serve("mirror.pkl.gz", PAYLOAD)
    result = run_fetch_stage(tmp_path, http_server.url("missing"), [mirror], GOOD.md5)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data/raw/mnist.pkl.gz").read_bytes() == PAYLOAD


def test_stage_exits_nonzero_with_one_message_when_all_sources_fail(http_server, tmp_path):
    url = http_server.serve("bad.pkl.gz", PAYLOAD)
    mirror = http_server.serve("bad-mirror.pkl.gz", PAYLOAD)
    result = run_fetch_stage(tmp_path, url, [mirror], "0" * 32)
    assert result.returncode == 1
    error = result.stderr.split("fetch: error: ", 1)[1]
    assert url in error and mirror in error and error.count("md5 mismatch") == 2
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data/raw/mnist.pkl.gz").exists()
    assert list((tmp_path / "data/raw").iterdir()) == []

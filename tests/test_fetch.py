"""The fetch code against a real HTTP server on 127.0.0.1: fallbacks, retries, resumes, faults.

Every failure must leave the output folder absent (never partial) and no ``.part`` file in it.
"""

import hashlib
import socket
import subprocess
import sys

import pytest
import yaml

from mnist_pipeline.core.names import IDX_FILES
from mnist_pipeline.fetch.dataset import (
    Expected,
    FetchError,
    download_dir,
    fetch_dataset,
    file_md5,
    idx_source,
    pickle_source,
)
from mnist_pipeline.fetch.http import Patience

from conftest import ROOT, limit_file_size, unused_port
from project import create_project, repro, set_params
from synthetic import make_splits, write_idx_folder, write_pickle

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB: many 64 KiB reads, so a dropped stream is mid-file
GOOD = Expected(size=len(PAYLOAD), md5=hashlib.md5(PAYLOAD).hexdigest())
HTML_START = "got an HTML page (text/html; charset=utf-8) starting '<!doctype html><html><head>"
IDX_FILE_NAMES = tuple(IDX_FILES.values())


@pytest.fixture(autouse=True)
def slept(monkeypatch):
    """The pauses urllib3's Retry takes between tries, recorded instead of slept. Its schedule:
    none before the first retry, then retry_backoff_s x 2, 4, ...; or what Retry-After says."""
    pauses = []
    monkeypatch.setattr("urllib3.util.retry.time.sleep", pauses.append)
    return pauses


def fetch(sources, dest, expected=GOOD, timeout_s=5.0, retries=3, retry_backoff_s=1.0):
    """Fetch pickle sources (strings) or prepared sources into the folder ``dest``."""
    sources = [pickle_source(s, expected) if isinstance(s, str) else s for s in sources]
    return fetch_dataset(sources, dest, Patience(timeout_s, retries, retry_backoff_s))


def assert_nothing_left(dest):
    """No output folder, and no temporary folder beside it (only the download folder)."""
    assert not dest.exists()
    leftovers = [p.name for p in dest.parent.iterdir()] if dest.parent.exists() else []
    assert set(leftovers) <= {download_dir(dest).name}, leftovers


def parts(dest):
    folder = download_dir(dest)
    return sorted(p.name for p in folder.glob("*.part")) if folder.exists() else []


def resumed_from(ranges):
    """The byte offsets of the ``Range: bytes=N-`` requests (None for a request without one)."""
    return [None if r is None else int(r.removeprefix("bytes=").rstrip("-")) for r in ranges]


def test_downloads_and_verifies(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD)
    dest = tmp_path / "data" / "raw"
    assert fetch([url], dest).label == url
    assert (dest / "mnist.pkl.gz").read_bytes() == PAYLOAD
    assert [p.name for p in dest.iterdir()] == ["mnist.pkl.gz"]
    assert [p.name for p in dest.parent.iterdir()] == ["raw"]  # no download folder left
    assert http_server.ranges_for("mnist.pkl.gz") == [None]


def test_the_folder_and_file_get_the_umask_modes_and_the_umask_is_never_set(
        http_server, tmp_path, umask_027):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD)
    dest = tmp_path / "raw"
    fetch([url], dest)
    assert dest.stat().st_mode & 0o777 == 0o777 & ~umask_027 == 0o750
    assert (dest / "mnist.pkl.gz").stat().st_mode & 0o777 == 0o666 & ~umask_027 == 0o640


def test_404_moves_on_to_the_mirror_at_once(http_server, tmp_path, slept):
    missing = http_server.url("gone.pkl.gz")
    mirror = http_server.serve("mirror/mnist.pkl.gz", PAYLOAD)
    assert fetch([missing, mirror], tmp_path / "raw").label == mirror
    assert http_server.requests.count("/gone.pkl.gz") == 1
    assert slept == []


def test_a_dropped_connection_resumes_with_a_range_request(http_server, tmp_path, slept):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD, "drop", "drop", "ok")
    dest = tmp_path / "raw"
    fetch([url], dest, retries=3, retry_backoff_s=0.5)
    assert (dest / "mnist.pkl.gz").read_bytes() == PAYLOAD
    assert slept == [1.0]  # none before the first retry, then 0.5 x 2
    offsets = resumed_from(http_server.ranges_for("mnist.pkl.gz"))
    # Each try asks only for what is still missing: never from byte 0 again.
    assert offsets[0] is None and 0 < offsets[1] < offsets[2] < len(PAYLOAD), offsets
    assert not download_dir(dest).exists()


def test_a_server_that_ignores_the_range_is_read_from_byte_0(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD, "drop", "ignore-range")
    dest = tmp_path / "raw"
    fetch([url], dest)
    assert (dest / "mnist.pkl.gz").read_bytes() == PAYLOAD  # not the first half twice
    offsets = resumed_from(http_server.ranges_for("mnist.pkl.gz"))
    assert offsets[0] is None and offsets[1] > 0 and len(offsets) == 2


def test_a_416_answer_restarts_from_byte_0(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD, "drop", "416", "ok")
    dest = tmp_path / "raw"
    fetch([url], dest)
    assert (dest / "mnist.pkl.gz").read_bytes() == PAYLOAD
    offsets = resumed_from(http_server.ranges_for("mnist.pkl.gz"))
    assert offsets[0] is None and offsets[1] > 0 and offsets[2] is None and len(offsets) == 3


def test_a_partial_download_survives_a_failed_run_and_the_next_run_resumes_it(
        http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD, "drop", "ok")
    dest = tmp_path / "data" / "raw"
    with pytest.raises(FetchError, match="connection dropped mid-download"):
        fetch([url], dest, retries=0)
    assert_nothing_left(dest)
    assert len(parts(dest)) == 1  # beside the output, where DVC's cleanup does not reach
    fetch([url], dest, retries=0)
    assert (dest / "mnist.pkl.gz").read_bytes() == PAYLOAD
    assert resumed_from(http_server.ranges_for("mnist.pkl.gz"))[1] > 0
    assert not download_dir(dest).exists()


def test_a_resumed_file_that_fails_verification_is_downloaded_again_from_byte_0(
        http_server, tmp_path):
    old = bytes(reversed(PAYLOAD))  # what the server had when the first run was cut off
    url = http_server.serve("mnist.pkl.gz", old, "drop")
    dest = tmp_path / "raw"
    with pytest.raises(FetchError):
        fetch([url], dest, retries=0)
    http_server.serve("mnist.pkl.gz", PAYLOAD)
    fetch([url], dest)
    assert (dest / "mnist.pkl.gz").read_bytes() == PAYLOAD
    offsets = resumed_from(http_server.ranges_for("mnist.pkl.gz"))
    # Run 1 from byte 0; run 2 resumes, fails the md5 check, and starts over from byte 0.
    assert offsets[0] is None and offsets[1] > 0 and offsets[2] is None and len(offsets) == 3


def test_a_resumed_file_whose_download_from_byte_0_is_wrong_too_fails_and_keeps_nothing(
        http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", bytes(reversed(PAYLOAD)), "drop")
    dest = tmp_path / "raw"
    with pytest.raises(FetchError):
        fetch([url], dest, retries=0)
    corrupt = PAYLOAD[:-1] + b"\x00"  # the right size: only the md5 tells
    http_server.serve("mnist.pkl.gz", corrupt)
    with pytest.raises(FetchError, match="md5 mismatch"):
        fetch([url], dest)
    offsets = resumed_from(http_server.ranges_for("mnist.pkl.gz"))
    assert offsets[0] is None and offsets[1] > 0 and offsets[2] is None and len(offsets) == 3
    assert_nothing_left(dest)
    assert parts(dest) == []  # not kept, so no later run takes it for verified


# http_server stalls for 5 s: far past the 0.3 s timeout these tests give fetch.
def test_a_stall_times_out_and_the_retry_resumes(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD, "stall", "ok")
    dest = tmp_path / "raw"
    fetch([url], dest, timeout_s=0.3)
    assert (dest / "mnist.pkl.gz").read_bytes() == PAYLOAD
    assert resumed_from(http_server.ranges_for("mnist.pkl.gz"))[1] > 0


def test_a_stalling_source_is_retried_with_backoff_then_the_next_is_tried(http_server, tmp_path,
                                                                          slept):
    stalled = http_server.serve("stalled.pkl.gz", PAYLOAD, "stall")
    mirror = http_server.serve("mirror.pkl.gz", PAYLOAD)
    dest = tmp_path / "raw"
    source = fetch([stalled, mirror], dest, timeout_s=0.3, retries=2, retry_backoff_s=0.1)
    assert source.label == mirror
    assert http_server.requests.count("/stalled.pkl.gz") == 3
    assert slept == [0.2]
    assert (dest / "mnist.pkl.gz").read_bytes() == PAYLOAD


def test_a_stall_everywhere_says_timed_out_and_leaves_nothing(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD, "stall")
    dest = tmp_path / "raw"
    with pytest.raises(FetchError) as err:
        fetch([url], dest, timeout_s=0.3, retries=1)
    assert f"  {url}: timed out (no data for 0.3 s) (after 2 attempts)" in str(err.value)
    assert_nothing_left(dest)


def test_an_html_page_is_refused_at_once_and_the_next_source_is_tried(http_server, tmp_path):
    portal = http_server.serve("mnist.pkl.gz", PAYLOAD, "html")
    mirror = http_server.serve("mirror.pkl.gz", PAYLOAD)
    dest = tmp_path / "raw"
    assert fetch([portal, mirror], dest).label == mirror
    assert http_server.requests.count("/mnist.pkl.gz") == 1  # not retried


def test_an_html_page_everywhere_says_what_came_back_and_leaves_nothing(http_server, tmp_path):
    portal = http_server.serve("mnist.pkl.gz", PAYLOAD, "html")
    dest = tmp_path / "raw"
    with pytest.raises(FetchError) as err:
        fetch([portal], dest)
    message = str(err.value)
    assert f"  {portal}: {HTML_START}" in message
    assert "mismatch" not in message
    assert_nothing_left(dest)
    assert parts(dest) == []


def test_html_is_recognised_by_its_first_bytes_whatever_the_content_type(http_server, tmp_path):
    page = b"\n  <HTML><body>Access denied</body></HTML>"
    url = http_server.serve("mnist.pkl.gz", page)
    with pytest.raises(FetchError) as err:
        fetch([url], tmp_path / "raw", Expected(size=None, md5=None))
    assert ("got an HTML page (application/octet-stream) starting "
            "'<HTML><body>Access denied</body></HTML>'") in str(err.value)


@pytest.fixture
def no_dns(monkeypatch):
    """Names under .invalid fail to resolve here, without asking any DNS server."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if str(host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_no_network_gives_one_short_line_per_source_and_an_offline_hint(no_dns, tmp_path,
                                                                       slept):
    unresolvable = "https://mnist.invalid/mnist.pkl.gz"
    refused = f"http://127.0.0.1:{unused_port()}/mnist.pkl.gz"
    dest = tmp_path / "raw"
    with pytest.raises(FetchError) as err:
        fetch([unresolvable, refused], dest, retries=2)
    lines = str(err.value).splitlines()
    assert lines == [
        "could not fetch the dataset from any source:",
        f"  {unresolvable}: cannot reach host (name resolution failed)",
        f"  {refused}: cannot reach host (connection refused) (after 3 attempts)",
        "working offline? put the path of a local copy of mnist.pkl.gz in data.mirrors, "
        "or get the dataset from a team remote with `dvc pull data/raw`",
    ]
    # The resolver has retried already: only the refused port is tried again (no wait, then
    # retry_backoff_s x 2).
    assert slept == [2.0]
    assert_nothing_left(dest)


def test_5xx_is_retried_then_gives_up(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD, "503")
    with pytest.raises(FetchError, match=r"HTTP 503 \(after 3 attempts\)"):
        fetch([url], tmp_path / "raw", retries=2)
    assert http_server.requests.count("/mnist.pkl.gz") == 3
    assert_nothing_left(tmp_path / "raw")


def test_a_server_that_asks_to_retry_after_n_seconds_is_waited_for(http_server, tmp_path,
                                                                    slept):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD, "busy", "ok")
    fetch([url], tmp_path / "raw", retries=2)
    assert (tmp_path / "raw" / "mnist.pkl.gz").read_bytes() == PAYLOAD
    assert slept == [2.0]  # the Retry-After header, not the backoff (none before retry 1)


def test_md5_mismatch_everywhere_lists_every_source_and_leaves_nothing(http_server, tmp_path):
    corrupt = PAYLOAD[:-1] + b"\x00"
    first = http_server.serve("a.pkl.gz", corrupt)
    local = tmp_path / "copy.pkl.gz"
    local.write_bytes(corrupt)
    sources = [first, local.as_uri(), str(local), http_server.url("missing")]
    dest = tmp_path / "data" / "raw"
    with pytest.raises(FetchError) as err:
        fetch(sources, dest)
    message = str(err.value)
    for source in sources:
        assert source in message
    assert message.count("md5 mismatch") == 3
    assert "HTTP 404" in message
    assert_nothing_left(dest)
    assert parts(dest) == []  # wrong bytes are not kept for a resume


def test_size_mismatch_is_caught_before_md5(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD[:-5])
    with pytest.raises(FetchError, match=f"got {len(PAYLOAD) - 5} bytes, expected {len(PAYLOAD)}"):
        fetch([url], tmp_path / "raw")
    assert_nothing_left(tmp_path / "raw")


def test_a_download_longer_than_the_expected_size_is_cut_off(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD * 3)
    with pytest.raises(FetchError, match=f"more than the expected {len(PAYLOAD)} bytes"):
        fetch([url], tmp_path / "raw")
    assert_nothing_left(tmp_path / "raw")
    assert parts(tmp_path / "raw") == []


def test_file_url_and_plain_path_mirrors(tmp_path):
    local = tmp_path / "mirror.pkl.gz"
    local.write_bytes(PAYLOAD)
    fetch([local.as_uri()], tmp_path / "a")
    fetch([str(local)], tmp_path / "b")
    assert file_md5(tmp_path / "a/mnist.pkl.gz") == file_md5(tmp_path / "b/mnist.pkl.gz") \
        == GOOD.md5


def test_unsupported_scheme_is_a_clear_failure(tmp_path):
    with pytest.raises(FetchError, match="unsupported scheme 'ftp'"):
        fetch(["ftp://example.invalid/mnist.pkl.gz"], tmp_path / "raw")


def test_null_md5_skips_the_check_with_a_warning(http_server, tmp_path, caplog):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD)
    fetch([url], tmp_path / "raw", Expected(size=None, md5=None))
    assert "will not be verified" in caplog.text


def test_an_existing_output_folder_is_replaced_whole(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD)
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / "train-images-idx3-ubyte.gz").write_bytes(b"from an earlier source")
    fetch([url], dest)
    assert [p.name for p in dest.iterdir()] == ["mnist.pkl.gz"]
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]


def test_folders_a_killed_run_left_beside_the_output_are_removed(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD)
    (tmp_path / ".raw.1a2b3c4d.tmp").mkdir()  # killed while moving the verified files in
    (tmp_path / ".raw.1a2b3c4d.tmp" / "mnist.pkl.gz").write_bytes(b"half")
    (tmp_path / "cache").mkdir()  # killed after moving an old output, a link, aside
    (tmp_path / ".raw.5e6f7a8b.old.tmp").symlink_to(tmp_path / "cache")
    fetch([url], tmp_path / "raw")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "raw"]


# The four idx files -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def idx_files(tmp_path_factory):
    folder = write_idx_folder(make_splits(30, 20, 10, seed=3), tmp_path_factory.mktemp("idx"))
    return {name: (folder / name).read_bytes() for name in IDX_FILE_NAMES}


def serve_idx(server, files, **behaviours):
    for name, payload in files.items():
        server.serve(f"idx/{name}", payload, *behaviours.get(name, ["ok"]))
    md5 = {name: hashlib.md5(payload).hexdigest() for name, payload in files.items()}
    return idx_source(server.url("idx/"), md5)


def test_an_idx_mirror_fills_the_folder_with_its_four_files(http_server, tmp_path, idx_files):
    source = serve_idx(http_server, idx_files)
    dest = tmp_path / "data" / "raw"
    assert fetch([http_server.url("missing.pkl.gz"), source], dest) == source
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == idx_files
    assert [p.name for p in dest.parent.iterdir()] == ["raw"]


@pytest.mark.parametrize("slash", ["", "/"])
def test_an_idx_mirror_can_be_a_local_folder(tmp_path, idx_files, slash):
    folder = tmp_path / "idx"
    folder.mkdir()
    for name, payload in idx_files.items():
        (folder / name).write_bytes(payload)
    md5 = {name: hashlib.md5(payload).hexdigest() for name, payload in idx_files.items()}
    fetch([idx_source(f"{folder}{slash}", md5)], tmp_path / "raw")
    assert {p.name: p.read_bytes() for p in (tmp_path / "raw").iterdir()} == idx_files


def test_an_idx_mirror_missing_a_file_leaves_nothing_and_the_next_run_reuses_the_rest(
        http_server, tmp_path, idx_files):
    source = serve_idx(http_server, idx_files, **{"t10k-labels-idx1-ubyte.gz": ["404"]})
    dest = tmp_path / "raw"
    with pytest.raises(FetchError) as err:
        fetch([source], dest)
    assert f"  {source.label}: t10k-labels-idx1-ubyte.gz: HTTP 404" in str(err.value)
    assert_nothing_left(dest)
    assert len(parts(dest)) == 3  # verified, kept for the next run

    serve_idx(http_server, idx_files)
    before = len(http_server.requests)
    fetch([source], dest)
    assert http_server.requests[before:] == ["/idx/t10k-labels-idx1-ubyte.gz"]
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == idx_files


def test_an_idx_file_with_the_wrong_md5_fails_its_source(http_server, tmp_path, idx_files):
    source = serve_idx(http_server, idx_files)
    http_server.serve("idx/train-labels-idx1-ubyte.gz", b"\x1f\x8b not the labels")
    dest = tmp_path / "raw"
    with pytest.raises(FetchError, match="train-labels-idx1-ubyte.gz: md5 mismatch"):
        fetch([source], dest)
    assert_nothing_left(dest)


# The stage script ------------------------------------------------------------------------

def run_fetch_stage(tmp_path, url, mirrors, md5):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(url=url, mirrors=mirrors, md5=md5, size=len(PAYLOAD), retries=1,
                          retry_backoff_s=0.01)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / "fetch.py"), "data/raw"],
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
    assert_nothing_left(tmp_path / "data" / "raw")


def test_stage_offline_prints_short_lines_and_the_hint(tmp_path, idx_files):
    port = unused_port()
    url = f"http://127.0.0.1:{port}/mnist.pkl.gz"
    mirror = {"format": "idx", "url": f"http://127.0.0.1:{port}/idx/",
              "md5": {name: hashlib.md5(data).hexdigest() for name, data in idx_files.items()}}
    result = run_fetch_stage(tmp_path, url, [mirror], GOOD.md5)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    error = result.stderr.split("fetch: error: ", 1)[1].splitlines()
    assert error[1:] == [
        f"  {url}: cannot reach host (connection refused) (after 2 attempts)",
        f"  {mirror['url']}: train-images-idx3-ubyte.gz: cannot reach host "
        "(connection refused) (after 2 attempts)",
        "working offline? put the path of a local copy of mnist.pkl.gz in data.mirrors, "
        "or get the dataset from a team remote with `dvc pull data/raw`",
    ]
    # Every line the stage printed is short: no exception reprs.
    assert max(len(line) for line in result.stderr.splitlines()) < 200
    assert_nothing_left(tmp_path / "data" / "raw")


def test_stage_on_a_full_disk_prints_one_line_and_leaves_no_output(http_server, tmp_path):
    url = http_server.serve("mnist.pkl.gz", PAYLOAD)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(url=url, mirrors=[], md5=GOOD.md5, size=len(PAYLOAD))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    # RLIMIT_FSIZE makes writes past 100 kB fail with EFBIG, as a full disk fails with ENOSPC.
    result = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "fetch.py"), "data/raw"], cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
        preexec_fn=limit_file_size(100_000))
    assert result.returncode == 1
    assert "fetch: error: data/raw: could not write the download: file too large" in result.stderr
    assert "Traceback" not in result.stderr
    assert_nothing_left(tmp_path / "data" / "raw")


# End to end ------------------------------------------------------------------------------

@pytest.mark.slow
def test_repro_falls_back_to_an_idx_mirror_and_converts_identical_tensors(http_server,
                                                                          tmp_path):
    # The idx training set must hold more than the 10,000 validation images convert keeps.
    splits = make_splits(300, 10_000, 100, seed=4)
    pickle_file = write_pickle(splits, tmp_path / "mnist.pkl.gz")
    idx = write_idx_folder(splits, tmp_path / "idx")
    for name in IDX_FILE_NAMES:
        http_server.serve(f"idx/{name}", (idx / name).read_bytes())
    project = create_project(tmp_path / "project", http_server.url("gone/mnist.pkl.gz"),
                             pickle_file)
    set_params(project, {"data.mirrors": [{
        "format": "idx", "url": http_server.url("idx"),
        "md5": {name: file_md5(idx / name) for name in IDX_FILE_NAMES}}]})
    assert repro(project, "convert") == ["fetch", "convert"]
    raw = project / "data" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(IDX_FILE_NAMES)
    assert all(file_md5(raw / name) == file_md5(idx / name) for name in IDX_FILE_NAMES)

    from_pickle = tmp_path / "from-pickle"
    subprocess.run([sys.executable, str(ROOT / "stages/convert.py"), str(pickle_file),
                    str(from_pickle)], check=True, capture_output=True, timeout=120)
    for split in ("train", "valid", "test"):
        name = f"{split}.safetensors"
        assert (project / "data/tensors" / name).read_bytes() == (from_pickle / name).read_bytes()

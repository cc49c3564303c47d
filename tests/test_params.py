"""params.yaml validation: every bad value fails with its key's name and the value given."""

import copy

import pytest
import yaml
from pydantic import ValidationError

from mnist_pipeline.core.errors import PipelineError
from mnist_pipeline.core.params import ParamsError, load_params, parse_params

from conftest import MODEL_NAMES, ROOT

RAW = yaml.safe_load((ROOT / "params.yaml").read_text())


def with_change(dotted: str, value):
    raw = copy.deepcopy(RAW)
    *parents, last = dotted.split(".")
    node = raw
    for key in parents:
        node = node[key]
    node[last] = value
    return raw


def test_the_projects_params_load_into_frozen_typed_sections():
    params = load_params(ROOT / "params.yaml")
    assert isinstance(params.train.bs, int) and isinstance(params.model("cnn").lr, float)
    from mnist_pipeline.variants import VARIANTS

    assert tuple(params.models) == tuple(VARIANTS)  # the project trains every model it builds
    with pytest.raises(ValidationError, match="frozen"):
        params.train.bs = 1


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("models.cnn.lr", 0),
        ("models.cnn.lr", -0.1),
        ("models.logistic.lr", "fast"),
        ("train.bs", 0),
        ("train.bs", 1.5),
        ("train.epochs", 0),
        ("models.cnn.momentum", 1.0),
        ("models.cnn.momentum", -0.5),
        ("models.scratch.momentum", 0.9),
        ("train.device", "gpu"),
        ("train.device", "cuda:x"),
        ("train.seed", -1),
        ("train.seed", 2**70),
        ("models.cnn.lr", float("nan")),
        ("models.cnn.momentum", float("nan")),
        ("data.timeout_s", float("inf")),
        ("data.md5", "not-a-checksum"),
        ("data.size", 0),
        ("data.retries", -1),
        ("train.nproc", 0),
        ("train.nnodes", 1.5),
        ("train.master", "node0"),
        ("train.master", "node0:70000"),
    ],
)
def test_bad_value_names_key_and_value(key, value):
    with pytest.raises(ParamsError) as err:
        parse_params(with_change(key, value))
    assert key in str(err.value)
    assert repr(value) in str(err.value)


def test_unknown_model_entry_lists_the_models_the_train_stage_can_build():
    from mnist_pipeline.variants import check_models

    raw = copy.deepcopy(RAW)
    raw["models"]["resnet"] = {"lr": 0.1, "momentum": 0.0}
    params = parse_params(raw)  # any name of letters, digits and _ is a model's
    with pytest.raises(PipelineError, match="models.resnet: unknown model") as err:
        check_models(params.models)
    assert all(name in str(err.value) for name in MODEL_NAMES)


def test_a_model_params_yaml_does_not_have_is_named_with_those_it_has():
    params = parse_params(RAW)
    with pytest.raises(PipelineError, match="models.mlp: missing .*scratch, logistic, cnn, "
                                            "sequential, adaptive"):
        params.model("mlp")


@pytest.mark.parametrize(("models", "message"), [
    ({}, "models: got {}, expected a mapping of at least one model"),
    ({"my model": {"lr": 0.1, "momentum": 0.0}},
     "models.my model: not a valid name, expected letters, digits and _"),
])
def test_the_models_mapping_needs_a_model_with_a_usable_name(models, message):
    with pytest.raises(ParamsError) as err:
        parse_params({**RAW, "models": models})
    assert str(err.value) == message


def test_typo_in_a_key_is_reported():
    raw = copy.deepcopy(RAW)
    raw["train"]["epoch"] = raw["train"].pop("epochs")
    with pytest.raises(ParamsError, match=r"train\.epoch"):
        parse_params(raw)


@pytest.mark.parametrize(("section", "value", "message"),
                         [("train", None, "train: missing"),
                          ("models", 5, "models: got 5, expected a mapping")])
def test_a_missing_or_wrong_section_is_named(section, value, message):
    raw = copy.deepcopy(RAW)
    raw[section] = value
    with pytest.raises(ParamsError, match=f"^{message}$"):
        parse_params(raw)


def test_a_model_left_out_of_params_yaml_is_not_trained_and_missing_where_asked_for():
    raw = copy.deepcopy(RAW)
    del raw["models"]["adaptive"]
    params = parse_params(raw)  # dvc.yaml's stages are made for the models listed
    assert "adaptive" not in params.models
    with pytest.raises(ParamsError, match=r"models.adaptive: missing \(params.yaml has scratch, "):
        params.model("adaptive")


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_valid_devices_accepted(device):
    assert parse_params(with_change("train.device", device)).train.device == device


@pytest.mark.parametrize(
    ("section", "wrong", "right"),
    [("models.cnn", "learning_rate", "lr"), ("models.cnn", "momentun", "momentum"),
     ("train", "batch_size", "bs"), ("train", "epoch", "epochs"), ("data", "urls", "url")],
)
def test_a_misspelt_key_gets_a_did_you_mean(section, wrong, right):
    raw = copy.deepcopy(RAW)
    node = raw
    for key in section.split("."):
        node = node[key]
    node[wrong] = node.pop(right)
    with pytest.raises(ParamsError) as err:
        parse_params(raw)
    assert str(err.value).startswith(f"{section}.{wrong}: unknown key; did you mean {right!r}?")


def test_batch_size_must_split_evenly_across_ranks():
    with pytest.raises(ParamsError, match=r"train\.bs: got 64, expected a multiple of "
                                          r"train\.nproc x train\.nnodes \(3\)"):
        parse_params(with_change("train.nproc", 3))
    assert parse_params(with_change("train.nproc", 4)).train.nproc == 4
    raw = with_change("train.nproc", 4)
    raw["train"]["nnodes"] = 3  # 12 ranks
    with pytest.raises(ParamsError, match=r"\(12\)"):
        parse_params(raw)


def test_ranks_default_to_one_process_when_absent():
    raw = copy.deepcopy(RAW)
    for key in ("nproc", "nnodes", "master"):
        del raw["train"][key]
    train = parse_params(raw).train
    assert (train.nproc, train.nnodes, train.master) == (1, 1, "localhost:29500")


def test_idx_mirrors_give_each_files_md5_by_its_name():
    mirror = load_params(ROOT / "params.yaml").data.mirrors[0]
    assert mirror.format == "idx"
    assert mirror.md5.model_dump(by_alias=True) == RAW["data"]["mirrors"][0]["md5"]


def test_a_plain_string_mirror_is_a_place_of_the_pickle():
    (mirror,) = parse_params(with_change("data.mirrors", ["/srv/mnist.pkl.gz"])).data.mirrors
    assert (mirror.format, mirror.url, mirror.md5) == ("pickle", "/srv/mnist.pkl.gz", None)
    assert not parse_params(with_change("data.mirrors", None)).data.mirrors


def idx_mirror(**changes):
    entry = copy.deepcopy(RAW["data"]["mirrors"][0])
    entry.update(changes)
    return entry


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (5, "data.mirrors[1]: got 5, expected a URL or path of mnist.pkl.gz, or a mapping "
            "{format: idx, url, md5}"),
        ("", "data.mirrors[1]: got '', expected a URL"),
        (idx_mirror(format="zip"), "data.mirrors[1].format: got 'zip', expected 'idx'"),
        ({"url": "https://x/", "md5": {}}, "data.mirrors[1].format: missing"),
        (idx_mirror(md5=None), "data.mirrors[1]: got"),
        (idx_mirror(urls="https://x/"), "data.mirrors[1].urls: unknown key; did you mean 'url'?"),
        (idx_mirror(md5={"train-images-idx3-ubyte.gz": "0" * 32}),
         "data.mirrors[1].md5.train-labels-idx1-ubyte.gz: missing"),
        (idx_mirror(md5={**RAW["data"]["mirrors"][0]["md5"], "train-images.gz": "0" * 32}),
         "data.mirrors[1].md5.train-images.gz: unknown key; did you mean "
         "'train-images-idx3-ubyte.gz'?"),
        (idx_mirror(md5={**RAW["data"]["mirrors"][0]["md5"], "t10k-labels-idx1-ubyte.gz": "x"}),
         "data.mirrors[1].md5.t10k-labels-idx1-ubyte.gz: got 'x', expected 32 lowercase hex"),
    ],
    ids=["number", "empty", "format", "no format", "no md5s", "typo", "missing md5",
         "unknown file", "bad md5"],
)
def test_a_bad_mirror_names_its_index(entry, message):
    with pytest.raises(ParamsError) as err:
        parse_params(with_change("data.mirrors", ["/srv/mnist.pkl.gz", entry]))
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize(("text", "message"), [
    (b"train:\n  bs: 64\n bad: [\n", r"params.yaml: not valid YAML at line \d+, column \d+: "),
    (b"train: {bs: 64}\n\xff\xfe", r"params.yaml: not UTF-8 text \(byte \d+\)"),
])
def test_a_params_file_that_is_not_yaml_is_one_line(tmp_path, text, message):
    # Found by fuzzing: yaml's own errors came out as tracebacks of several lines.
    (tmp_path / "params.yaml").write_bytes(text)
    with pytest.raises(ParamsError, match=message) as caught:
        load_params(tmp_path / "params.yaml")
    assert "\n" not in str(caught.value)

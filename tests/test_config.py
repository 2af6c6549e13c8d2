from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from node.config import load_config
from node.errors import ConfigError


def test_config_file_with_nested_params(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        'source = "synthetic?fps=25"\nsinks = ["null", "file:a.mp4"]\nlog_level = "debug"\n'
        "stats_interval = 2\n[params]\nprocess.canny_t1 = 20\n[params.predict]\nenabled = false\n"
    )
    config = load_config(path)
    assert config.source == "synthetic?fps=25" and config.sinks == ["null", "file:a.mp4"]
    assert config.log_level == "DEBUG" and config.stats_interval == 2.0
    assert config.params == {"process.canny_t1": 20, "predict.enabled": False}


def test_config_file_osc_settings(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        'osc_bind = "127.0.0.1"\nosc_port = 9100\nosc_feedback_port = 0\n'
        'osc_allow = "10.0.0.0/8, 127.0.0.1"\nosc_prefix = "/left"\noscquery_port = 0\n'
        "zeroconf = false\n"
    )
    control = load_config(path).control
    assert (control.bind, control.port, control.feedback_port) == ("127.0.0.1", 9100, 0)
    assert control.allow == ["10.0.0.0/8", "127.0.0.1"] and control.prefix == "/left"
    assert control.oscquery_port == 0 and control.zeroconf is False


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("sinks = 'null'", "list of strings"),
        ("threads = 0", "positive integer"),
        ("stats_interval = 0", "must be > 0"),
        ("stats_interval = true", "number of seconds"),
        ("log_level = 'loud'", "log_level must be one of"),
        ("params = 3", "table of parameter values"),
        ("port = 1", "unknown key 'port'"),
        ("source = ", "not valid TOML"),
        ("osc_port = 0", "osc_port must be a port number 1..65535"),
        ("osc_feedback_port = 'x'", "osc_feedback_port must be a port number 0..65535"),
        ("oscquery_port = 70000", "oscquery_port must be a port number 0..65535"),
        ("osc_allow = 3", "osc_allow must be a list of CIDR strings"),
        ("zeroconf = 'yes'", "zeroconf must be true or false"),
        ("osc_colour = 1", "unknown key 'osc_colour'"),
        ("openvino_device = 0", "openvino_device"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "node.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config(path)


def test_config_openvino_device_and_variant_pins_reach_the_library(tmp_path: Path) -> None:
    from node.app import backend_options, library_from
    from node.inference.descriptor import ModelError

    path = tmp_path / "node.toml"
    path.write_text('openvino_device = "AUTO"\nmodel_formats = ["openvino-int8", "onnx"]\n')
    config = load_config(path)
    assert backend_options(config).openvino_device == "AUTO"
    assert library_from(config).prefer == ["openvino-int8", "onnx"]
    with pytest.raises(ModelError, match="unknown model format"):
        library_from(replace(config, model_formats=["pt"]))


def test_every_setting_is_in_help_the_settings_command_and_the_example() -> None:
    """One declaration reaches every view: `--help`, `settings`, the example config."""
    from node.cli import build_parser
    from node.config import SETTINGS, example_config
    from node.support.settingtable import table_text

    top = build_parser().format_help()
    subcommands = build_parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
    run = subcommands.choices["run"].format_help()  # type: ignore[index]
    example = example_config()
    for item in SETTINGS:
        assert (item.key or item.flag) in top, item
        if item.key and item.key != "params":
            assert f"\n{item.key} = " in example, item.key
        if item.flag and "run" in item.commands:
            assert item.flag in run, item.flag
    assert table_text(SETTINGS) in top


def test_the_example_config_sets_every_key_to_its_example(tmp_path: Path) -> None:
    from node.config import SETTINGS, example_config

    path = tmp_path / "node.toml"
    path.write_text(example_config())
    config = load_config(path)
    for item in SETTINGS:
        if not item.key or item.example is None:
            continue
        value: object = config
        for part in item.attr:
            value = getattr(value, part)
        assert value == item.check(item.example, item.key), item.key


def test_flags_win_over_the_file_and_a_config_is_built_once(tmp_path: Path) -> None:
    import dataclasses

    from node.cli import build_parser
    from node.config import config_from_args

    path = tmp_path / "node.toml"
    path.write_text(
        'osc_port = 9100\nmodels_dirs = ["/file/models"]\nzeroconf = true\n'
        'node_name = "left"\n[params]\nprocess.canny_t1 = 20\n'
    )
    args = build_parser().parse_args(
        ["run", "--config", str(path), "--osc-port", "9200", "--models-dir", "/flag/models",
         "--no-zeroconf", "--set", "process.canny_t1=30", "--set", "process.canny_t2=90"]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.control.port == 9200 and config.control.zeroconf is False
    assert config.models_dirs == ["/flag/models", "/file/models"]  # a flag's folders first
    assert config.control.name == "left"
    assert config.params == {"process.canny_t1": 20}
    assert config.overrides == {"process.canny_t1": 30, "process.canny_t2": 90}
    assert config.start_params() == {"process.canny_t1": 30, "process.canny_t2": 90}
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.control.port = 1  # type: ignore[misc]


def test_the_node_name_setting_is_checked_and_named_to_controllers(tmp_path: Path) -> None:
    from node.control.service import node_name

    path = tmp_path / "node.toml"
    path.write_text('node_name = "left screen"\n')
    assert node_name(load_config(path).control) == "left screen"
    for bad in ('"' + "x" * 64 + '"', '"a\\u0007b"', "3"):
        path.write_text(f"node_name = {bad}\n")
        with pytest.raises(ConfigError, match="node_name must be"):
            load_config(path)


def test_a_setting_is_one_declaration() -> None:
    """The machinery on a table of its own: the field's declaration alone gives the loader's
    check, the flag, its help and the docs row."""
    import argparse
    from dataclasses import dataclass

    from node.support.settingtable import (
        add_flags,
        build,
        from_flags,
        setting,
        settings_of,
        table_markdown,
    )

    def loudness(value: object, where: str) -> int:
        if not isinstance(value, int) or not 0 <= value <= 11:
            raise ConfigError(f"{where} must be 0..11")
        return value

    @dataclass(frozen=True)
    class Amp:
        volume: int = setting(
            5, kind="0..11", check=loudness, flag="--volume", flag_type=int, help="how loud"
        )

    table = tuple(settings_of(Amp))
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_flags(parser, table, "run")
    assert "how loud (default 5; config key volume)" in " ".join(parser.format_help().split())
    assert build(Amp, from_flags(parser.parse_args(["--volume", "11"]), table, {})).volume == 11
    assert build(Amp, from_flags(parser.parse_args([]), table, {("volume",): 7})).volume == 7
    with pytest.raises(argparse.ArgumentError, match=r"--volume must be 0\.\.11"):
        parser.parse_args(["--volume", "12"])
    assert "| `volume` | `--volume` | 0..11 | `5` | how loud |" in table_markdown(table)

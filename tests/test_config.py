from __future__ import annotations

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
    assert library_from(config, None).prefer == ["openvino-int8", "onnx"]
    config.model_formats = ["pt"]
    with pytest.raises(ModelError, match="unknown model format"):
        library_from(config, None)

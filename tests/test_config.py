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
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "node.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config(path)

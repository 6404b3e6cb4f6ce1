"""Bad options and files: one line, exit 2, nothing written (issue 12 items 10 and 11, issue 18 item 4).

Each case lists what was typed; together with tests/test_spec.py's MALFORMED list this is the record
of the hostile inputs tried.
"""

import pytest

from cifarsweep.config.training import load_train_config
from tests.support import files_under
from tests.support.cli import invoke

SPEC = "name: x\nbase: {dataset: synthetic, width: 8, epochs: 1, device: cpu}\n"

CASES = [
    # (command line, fragment of the one-line error)
    (["train", "--experiment", "", "--set", "dataset=synthetic"], "--experiment"),
    (["train", "--experiment", "  ", "--set", "dataset=synthetic"], "--experiment"),
    (["train", "--set", "dataset=synthetic", "--tracking-uri", "http://127.0.0.1:1"], "not reachable"),
    (["train", "--set", "dataset=synthetic", "--tracking-uri", "postgresql://u:pa/ss@127.0.0.1:1/db"], "u:***@"),
    (["train", "--set", "amp=on"], "got true"),
    (["train", "--set", "epochs=1e26"], "epochs"),
    (["train", "--set", "lr=.inf"], "lr"),
    (["train", "--set", "seed=-1"], "seed"),
    (["train", "latin1.yaml"], "not UTF-8"),
    (["train", "deep.yaml"], "nested more than"),
    (["ui", "--port", "99999"], "--port"),
    (["ui", "--port", "-1"], "--port"),
    (["worker", "spec.yaml", "--wait", "nan"], "--wait"),
    (["worker", "spec.yaml", "--wait", "-1"], "--wait"),
    (["filters", "0123abcd", "--images", "100000"], "--images"),
    (["filters", "0123abcd", "--channels", "0"], "--channels"),
    (["landscape", "0123abcd", "--range", "inf"], "--range"),
    (["landscape", "0123abcd", "--range", "nan"], "--range"),
    (["conv-geometry", "--size", "100000"], "--size"),
    (["conv-geometry", "--kernel", "100000"], "--kernel"),
    (["conv-geometry", "--out", "a_file"], "--out"),
    (["report", "--out", "a_file"], "--out"),
]


@pytest.mark.parametrize("args, fragment", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(empty_workdir, args, fragment):
    (empty_workdir / "spec.yaml").write_text(SPEC)
    (empty_workdir / "a_file").write_text("not a folder")
    (empty_workdir / "latin1.yaml").write_bytes(b"dataset: synthetic\n# caf\xe9\n")
    (empty_workdir / "deep.yaml").write_text("x: " + "[" * 5000 + "]" * 5000 + "\n")
    before = files_under(empty_workdir)
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[-1], lines
    assert "pa/ss" not in result.output
    assert files_under(empty_workdir) == before  # no mlruns/, no database, no .tmp


def test_amp_off_from_set_and_from_a_file(tmp_path):
    """Issue 18 item 4: YAML reads `off` as false; amp takes it as the word it was."""
    assert load_train_config(None, ["amp=off"]).amp == "off"
    path = tmp_path / "c.yaml"
    path.write_text("amp: off\n")
    assert load_train_config(path).amp == "off"

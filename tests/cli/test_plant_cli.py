from pathlib import Path

from typer.testing import CliRunner

from andon.cli.app import app
from andon.plant import example_plant

runner = CliRunner()


def test_check_reports_what_a_good_plant_declares():
    result = runner.invoke(app, ["plant", "check", example_plant("job_shop")])
    assert result.exit_code == 0, result.output
    assert "4 machine(s), 40 tag(s), 3 shift(s) in Europe/Berlin" in result.output


def test_check_lists_every_problem_with_line_and_field(tmp_path):
    bad = tmp_path / "plant.yaml"
    text = Path(example_plant("job_shop")).read_text()
    text = text.replace("ideal_cycle_time: 75s", "ideal_cycle_time: 0s", 1)
    text = text.replace("timezone: Europe/Berlin", "timezone: Europe/Atlantis")
    bad.write_text(text)
    result = runner.invoke(app, ["plant", "check", str(bad)])
    assert result.exit_code == 1
    assert "2 problems found" in result.output
    assert f"{bad}:6: calendar.timezone: unknown time zone 'Europe/Atlantis'" in result.output
    assert "areas[0].lines[0].machines[0].ideal_cycle_time: must be greater than zero" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_check_missing_file(tmp_path):
    result = runner.invoke(app, ["plant", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "cannot read: No such file or directory" in result.output

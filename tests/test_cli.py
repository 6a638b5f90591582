"""The ``gpuad`` command: the demo computes the kinetics Jacobian, checks it against
the analytic one and exits 0, jitted (the default) and eager; ``info`` lists devices."""
import pytest

from gpuad.cli import main


@pytest.mark.parametrize("extra", [[], ["--eager"], ["--method", "jacrev"]])
def test_demo_checks_the_jacobian(extra, capsys):
    assert main(["demo", "--cells", "500", "--repeat", "2", "--device", "cpu", *extra]) == 0
    out = capsys.readouterr().out
    assert "-> OK" in out
    assert ("jit(vmap(" in out) == ("--eager" not in extra)


def test_info_lists_the_cpu(capsys):
    assert main(["info"]) == 0
    assert "cpu" in capsys.readouterr().out

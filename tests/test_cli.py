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


def test_demo_times_the_jacobian_not_its_download(monkeypatch, capsys):
    """Inside the timed repeats each call ends with a device sync, never a copy of the whole
    Jacobian to the host; the result is copied once, for the check, after the timing."""
    import gpuad as ad
    from gpuad import cli

    cells, species, repeat = 300, 20, 4
    downloads, syncs = [], []
    numpy = ad.Tensor.numpy

    def counting_numpy(self, *a, **k):
        if tuple(self.shape) == (cells, species, species):
            downloads.append(len(syncs))
        return numpy(self, *a, **k)

    monkeypatch.setattr(ad.Tensor, "numpy", counting_numpy)
    monkeypatch.setattr(cli, "_synchronize", lambda device: syncs.append(device))
    assert main(["demo", "--cells", str(cells), "--species", str(species), "--repeat",
                 str(repeat), "--device", "cpu", "--eager"]) == 0
    assert "-> OK" in capsys.readouterr().out
    # first call + timed repeats + the counted call, all synced; one download, after them all
    assert syncs == ["cpu"] * (repeat + 2)
    assert downloads == [repeat + 2]


def test_synchronize_waits_on_the_tensor_device(monkeypatch):
    import sys
    import types

    from gpuad import cli
    synced = []

    class Device:
        def __init__(self, index=None):
            self.index = index

        def synchronize(self):
            synced.append(self.index)

    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(
        cuda=types.SimpleNamespace(Device=Device)))
    cli._synchronize("cpu")
    cli._synchronize("cudasim")
    cli._synchronize("cudasim:1")
    assert synced == []               # synchronous devices: nothing to wait for
    cli._synchronize("cuda")
    cli._synchronize("cuda:1")
    assert synced == [None, 1]        # the current device, then device 1

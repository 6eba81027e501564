"""Pictures render to PNG without a display, leave the backend alone, and leave no pyplot figure open."""
import matplotlib
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np

from pyrodisent.evaluation.diagnostics import plot_khat
from pyrodisent.figures.plots import plot_target_matrices, plot_training_log


def _image(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path)


def test_pictures_render_without_touching_the_backend(tmp_path):
    backend, open_figures = matplotlib.get_backend(), plt.get_fignums()
    log = tmp_path / "training_log.csv"
    log.write_text("epoch,step,lr,seconds,loss,kl\n1,10,0.001,0.5,3.0,1.0\n2,20,0.0005,1.0,2.0,0.5\n")
    pictures = [
        plot_training_log(log, tmp_path / "log.png"),
        plot_khat(np.array([0.1, 0.6, 0.9, -np.inf]), tmp_path / "khat.png"),
        plot_target_matrices(np.eye(3, dtype=bool), np.eye(3) * 0.8, tmp_path / "targets.png"),
    ]
    for path in pictures:
        image = _image(path)
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert image[..., :3].std() > 0.05  # something was drawn, not a blank canvas
    assert matplotlib.get_backend() == backend
    assert plt.get_fignums() == open_figures  # figures outside pyplot: nothing to close, nothing leaks

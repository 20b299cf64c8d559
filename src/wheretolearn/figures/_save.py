"""Writing a figure: its title wrapped to the figure's width, every format of the layout."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from wheretolearn.paths import layout  # noqa: E402


def save_figure(fig, title: str, profile: str, family: str, name: str) -> list[Path]:
    """Title ``title (profile P)``, tight layout, one file per format; the figure is closed."""
    chars = max(40, int(fig.get_figwidth() * 11))  # characters that fit the figure's width
    fig.suptitle(textwrap.fill(f"{title} (profile {profile})", chars))
    fig.tight_layout()
    paths = layout().figure_files(profile, family, name)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return paths

"""Finding the real data files: an explicit path, a folder, or the ``PYRODISENT_DATA`` folder."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

DATA_DIRECTORY_VARIABLE = "PYRODISENT_DATA"


def resolve_data_file(path: Optional[Union[str, os.PathLike]], filename: str, url: str) -> Path:
    """The data file: ``path`` (a file, or a folder holding ``filename``), else
    ``$PYRODISENT_DATA/<filename>``; a FileNotFoundError saying where it looked otherwise."""
    looked = []
    if path is not None:
        candidate = Path(path).expanduser()
        if candidate.is_dir():
            candidate = candidate / filename
        if candidate.is_file():
            return candidate
        looked.append(f"{candidate} (the path given)")
    else:
        directory = os.environ.get(DATA_DIRECTORY_VARIABLE)
        if directory:
            candidate = Path(directory).expanduser() / filename
            if candidate.is_file():
                return candidate
            looked.append(f"{candidate} (${DATA_DIRECTORY_VARIABLE}/{filename})")
        else:
            looked.append(f"${DATA_DIRECTORY_VARIABLE} (not set)")
    raise FileNotFoundError(
        f"{filename} not found; looked in: {'; '.join(looked)}. Download it from {url} and pass its path, "
        f"or put it in the folder named by ${DATA_DIRECTORY_VARIABLE}."
    )

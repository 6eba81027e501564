"""The one data-file lookup every real-data loader uses."""
import pytest

from pyrodisent.data.files import resolve_data_file


def test_path_folder_and_environment(tmp_path, monkeypatch):
    target = tmp_path / "data.bin"
    target.write_bytes(b"x")
    assert resolve_data_file(target, "data.bin", "URL") == target
    assert resolve_data_file(tmp_path, "data.bin", "URL") == target
    monkeypatch.setenv("PYRODISENT_DATA", str(tmp_path))
    assert resolve_data_file(None, "data.bin", "URL") == target


def test_missing_file_says_where_it_looked_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("PYRODISENT_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"data.bin not found.*PYRODISENT_DATA \(not set\).*from URL"):
        resolve_data_file(None, "data.bin", "URL")
    monkeypatch.setenv("PYRODISENT_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "data.bin")):
        resolve_data_file(None, "data.bin", "URL")
    with pytest.raises(FileNotFoundError, match="nowhere.bin"):
        resolve_data_file(tmp_path / "nowhere.bin", "data.bin", "URL")

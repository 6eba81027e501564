"""The README's custom-prior snippet is real code: run it exactly as written."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_snippet() -> str:
    text = README.read_text()
    match = re.search(r"<!-- readme-snippet[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md has no readme-snippet python block"
    return match.group(1)


def test_snippet_is_short():
    code_lines = [line for line in readme_snippet().splitlines() if line.strip()]
    model_lines = code_lines[code_lines.index(next(l for l in code_lines if l.startswith("@MODELS"))):]
    model_lines = model_lines[: next(i for i, l in enumerate(model_lines) if l.startswith("data ="))]
    assert len(model_lines) <= 15


def test_snippet_trains_and_evaluates(capsys):
    from pyrodisent.registry import MODELS

    MODELS._entries.pop("laplace_vae", None)
    namespace: dict = {}
    exec(compile(readme_snippet(), str(README), "exec"), namespace)
    out = capsys.readouterr().out
    value = float(re.search(r"MCC ([0-9.]+)", out).group(1))
    assert 0.0 < value <= 1.0
    assert "laplace_vae" in MODELS

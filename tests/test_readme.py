"""README.md's Python blocks run as written: every ```python block, in order, in one fresh process with
no data folder, in an empty working directory (so they stay self-contained and true)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_has_python_blocks_and_the_extractor_finds_them():
    blocks = python_blocks("intro\n```python\nx = 1\n```\ntext\n```bash\nls\n```\n```python\ny = x\n```\n")
    assert blocks == ["x = 1\n", "y = x\n"]
    assert len(python_blocks((REPO / "README.md").read_text())) >= 5


@pytest.mark.slow  # trains a dozen small models: about 1.5 min of CPU
def test_every_python_block_of_the_readme_runs(tmp_path):
    blocks = python_blocks((REPO / "README.md").read_text())
    script = "\n".join(f"print('--- README block {i + 1}', flush=True)\n{block}" for i, block in enumerate(blocks))
    (tmp_path / "readme_blocks.py").write_text(script)
    env = {k: v for k, v in os.environ.items() if k != "FNNET_DATA_DIR"}
    env.update(FNNET_DATA_DIR=str(tmp_path / "no-data"), MPLBACKEND="Agg", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "readme_blocks.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, (done.stdout[-3000:] + done.stderr[-3000:])

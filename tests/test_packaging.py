"""The wheel's package list: every subpackage, and the zoo configs inside the wheel."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_lists_every_subpackage_and_ships_zoo_configs():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "vaezoo").rglob("__init__.py")}
    assert found <= listed, f"subpackages missing from pyproject's packages: {found - listed}"
    # zoo_configs/ is mapped into the wheel as vaezoo/zoo_configs with its TOML files
    assert cfg["package-dir"]["vaezoo.zoo_configs"] == "zoo_configs"
    assert "*.toml" in cfg["package-data"]["vaezoo.zoo_configs"]
    assert any((ROOT / "zoo_configs").glob("*.toml"))


def test_config_dir_falls_back_to_the_packaged_copy(tmp_path, monkeypatch):
    from vaezoo.config import files
    fake_pkg = tmp_path / "site-packages" / "vaezoo"
    (fake_pkg / "zoo_configs").mkdir(parents=True)
    monkeypatch.setattr(files, "__file__", str(fake_pkg / "config" / "files.py"))
    assert files._zoo_config_dir() == fake_pkg / "zoo_configs"

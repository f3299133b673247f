"""docs/configuration.md lists every setting: it is generated, and must be regenerated on change."""

from pathlib import Path

from hometwin import config
from hometwin.settings_doc import CLASSES, markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_doc_is_current() -> None:
    assert DOC.read_text() == markdown(), (
        "docs/configuration.md is stale: run `python -m hometwin.settings_doc > docs/configuration.md`")


def test_every_settings_class_is_documented() -> None:
    classes = {obj for obj in vars(config).values()
               if isinstance(obj, type) and issubclass(obj, config.CommonSettings)}
    assert classes <= set(CLASSES), f"add to settings_doc.CLASSES: {classes - set(CLASSES)}"


def test_every_documented_variable_is_in_the_doc() -> None:
    text = DOC.read_text()
    for cls in CLASSES:
        for name in cls.model_fields:
            assert name.upper() in text.upper(), f"{cls.__name__}.{name} is missing from {DOC.name}"

"""Secrets come from a file (a Kubernetes secret mount) or a variable; a bad file is named."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from hometwin.config import MailSettings, SchedulerSettings, read_secret


def test_the_file_wins_and_blank_means_unset(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    assert read_secret(SecretStr("from-env"), secret) == "from-file"
    assert read_secret("from-env", None) == "from-env"
    assert read_secret(SecretStr(""), None) is None
    secret.write_text("  \n")
    assert read_secret("from-env", secret) is None


def test_an_unreadable_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ValueError, match=f"cannot read the secret file {missing}"):
        SchedulerSettings(scheduler_token_file=missing).token()
    with pytest.raises(ValueError, match="secret file"):
        MailSettings(smtp_password_file=missing).smtp_password_value()

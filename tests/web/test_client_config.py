"""``[guard] trusted_proxies`` is checked when the settings load (finding 10): an entry that is no
address or network stops the start with a clear error instead of a traceback at app creation."""

from __future__ import annotations

import pytest

from moderation.config import ConfigError
from tests.conftest import make_settings


@pytest.mark.parametrize("entry", ["garbage", "10.0.0.0/33", "10.0.0.1:80", ""])
def test_a_trusted_proxy_entry_that_is_no_network_is_a_config_error(tmp_path, entry):
    with pytest.raises(ConfigError, match=r"\[guard\] trusted_proxies"):
        make_settings(tmp_path, **{"guard.trusted_proxies": ["10.0.0.0/8", entry]})

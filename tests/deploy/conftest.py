"""The deployment tests run tools from outside Python (buildah, podman, mmdebstrap,
systemd-analyze, nginx, Caddy): ``@pytest.mark.needs(program, package)`` skips a test, with the
Debian package to install, where `program` is missing. ``MODERATION_REQUIRE_DEPLOY=1`` (set by
``.ci/run``, which installs them all) turns that skip into a failure, so CI cannot go green by
skipping them."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE = os.environ.get("MODERATION_REQUIRE_DEPLOY") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs(program, package): skip unless `program` (from Debian's `package`) is found",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of the test runs (the image test's fixtures build the image)."""
    for mark in item.iter_markers("needs"):
        program, package = mark.args
        if shutil.which(program) is None:
            message = f"{program} missing: apt-get install {package} (.ci/run does)"
            if REQUIRE:
                pytest.fail(f"{message}; MODERATION_REQUIRE_DEPLOY=1 requires it")
            pytest.skip(message)

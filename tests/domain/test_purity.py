import subprocess
import sys


def test_domain_imports_no_framework_database_or_network_code():
    code = (
        "import sys, moderation.domain.states, moderation.domain.scoring, moderation.domain.policy;"
        "bad = [m for m in ('flask', 'sqlalchemy', 'akismet', 'httpx', 'werkzeug') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

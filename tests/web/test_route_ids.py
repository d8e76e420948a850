"""Every ``<int:...>`` in a route is bounded by what the database's integer columns hold: a larger
id is a 404, as an id that does not exist, and never reaches PostgreSQL (which refuses it)."""

import pytest

pytestmark = pytest.mark.usefixtures("fast_hashes")

TOO_BIG = [2**31, 2**63, 10**30]


@pytest.mark.parametrize("number", TOO_BIG)
@pytest.mark.parametrize(
    "path",
    [
        "/moderate/comments/{}/approve",
        "/moderate/comments/{}/spam-and-block",
        "/moderate/comments/{}/approve-and-trust",
        "/moderate/comments/{}/edit",
        "/moderate/lists/{}/delete",
        "/moderate/moderators/{}/deactivate",
    ],
)
def test_dashboard_posts_with_ids_out_of_range_are_404(as_admin, path, number):
    assert as_admin.post(path.format(number)).status_code == 404


@pytest.mark.parametrize("number", TOO_BIG)
def test_dashboard_comment_page_with_an_id_out_of_range_is_404(as_admin, number):
    assert as_admin.get(f"/moderate/comments/{number}").status_code == 404


def test_the_largest_id_still_reaches_the_view(as_admin):
    assert as_admin.get(f"/moderate/comments/{2**31 - 1}").status_code == 404  # no such comment
    assert as_admin.post(f"/moderate/lists/{2**31 - 1}/delete").status_code in (303, 404)

"""Every admin link a demo user sees, that user may open: no 403, 404 or 500 anywhere they can
reach from their start page.

Each demo user is logged in with the test client and the admin is walked breadth first from
/admin/: every same-origin link on every page is opened once (GET only); pages under /admin/
are read for further links, other same-origin links (the site, the API docs) are opened but not
followed. Logging out and delete confirmations are left alone. Pages of one shape (the path
with its ids taken out) are opened a few times each, not once per row, and a few of each
list's variants (sorted, filtered, with facets): an order's page is built the same way for
every order, and a list sorted by each of its columns in turn shows nothing new.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urldefrag, urlencode, urljoin, urlsplit

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from approvals import services as approvals
from approvals.models import ReviewTask
from decisions import services as decisions
from decisions.models import RuleSet
from demo.seed import USERS
from opscore.actors import Actor
from processes.orders.rules import ORDER_CARRIER
from tests.journeys.conftest import DEMO_PASSWORD, worker_round

pytestmark = pytest.mark.django_db

ORIGIN = "http://testserver"
START = "/admin/"
MAX_PAGES = 400
MAX_DEPTH = 8
PAGES_PER_SHAPE = 2
VARIANTS_PER_SHAPE = 3
NOT_FOLLOWED = ("/admin/logout/", "/delete/")


class LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


@dataclass(frozen=True)
class Broken:
    status: int | str
    url: str
    found_on: str

    def __str__(self) -> str:
        return f"{self.status} {self.url} (linked from {self.found_on})"


# Two kinds of links that once answered 403, each held by its own test below.
USER_PAGE = re.compile(r"^/admin/auth/user/\d+/change/$")
EDIT_TABLE = re.compile(r"^/admin/decisions/rulesetversion/\d+/table/$")


def _same_origin_path(href: str, *, page_url: str) -> str | None:
    """The link as a path and query on this site; None for other sites and schemes.

    The admin's memory of the list a page was opened from (`_changelist_filters`) only changes
    where "back" leads, so it is dropped: one page, one visit.
    """
    absolute, _ = urldefrag(urljoin(ORIGIN + page_url, href))
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or f"{parts.scheme}://{parts.netloc}" != ORIGIN:
        return None
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "_changelist_filters"])
    return parts.path + (f"?{query}" if query else "")


def _shape(path: str) -> str:
    """/admin/processes/order/12/change/?o=2 -> /admin/processes/order/#/change/?"""
    route, query_mark, _ = path.partition("?")
    return "/".join("#" if part.isdigit() else part for part in route.split("/")) + query_mark


def _links(html: str) -> list[str]:
    parser = LinkParser()
    parser.feed(html)
    return parser.hrefs


def crawl(client: Client) -> tuple[list[Broken], int]:
    """Walk the admin from its start page; returns what was broken and how many pages were
    opened."""
    queue: deque[tuple[str, str, int]] = deque([(START, "login", 0)])
    seen = {START}
    shapes: Counter[str] = Counter([_shape(START)])
    broken: list[Broken] = []
    opened = 0
    while queue and opened < MAX_PAGES:
        url, found_on, depth = queue.popleft()
        opened += 1
        try:
            response = client.get(url)
        except Exception as error:  # a view that raised: the 500 the person would get
            broken.append(Broken(f"500 {type(error).__name__}: {error}", url, found_on))
            continue
        if response.status_code in (301, 302, 303, 307, 308):
            target = _same_origin_path(response["Location"], page_url=url)
            if target is None:
                continue
            if target.startswith("/admin/login/"):
                broken.append(Broken("redirected to log in", url, found_on))
            elif target not in seen:
                seen.add(target)
                shapes[_shape(target)] += 1
                queue.append((target, url, depth))
            continue
        if response.status_code != 200:
            broken.append(Broken(response.status_code, url, found_on))
            continue
        follow = url.startswith("/admin/") and depth < MAX_DEPTH
        if not follow or "html" not in response.get("Content-Type", ""):
            continue
        for href in _links(response.content.decode()):
            target = _same_origin_path(href, page_url=url)
            if target is None or target in seen or any(p in target for p in NOT_FOLLOWED):
                continue
            shape = _shape(target)
            if shapes[shape] >= (VARIANTS_PER_SHAPE if "?" in shape else PAGES_PER_SHAPE):
                continue
            shapes[shape] += 1
            seen.add(target)
            queue.append((target, url, depth + 1))
    return broken, opened


def _as(username: str) -> Actor:
    return Actor.for_user(User.objects.get(username=username))


def _task(key: str) -> ReviewTask:
    return ReviewTask.objects.get(title__endswith=f" {key}", status__in=["open", "claimed"])


@pytest.fixture
def day_of_work(demo_day) -> None:
    """The demo after some use, so every kind of page has something on it: an order approved
    and dispatched, an invoice rejected, information requested, a rule change in review with
    its backtest, and the rest escalated once their deadlines passed."""
    approvals.approve_task(task=_task("DEMO-0003"), actor=_as("reviewer"))
    approvals.request_information(
        task=approvals.claim_task(task=_task("DEMO-0004"), actor=_as("reviewer2")),
        actor=_as("reviewer2"),
        message="Which loading bay?",
    )
    approvals.reject_task(task=_task("DEMO-INV-0002"), actor=_as("manager"), reason="duplicate")
    draft = decisions.create_draft(
        rule_set=RuleSet.objects.get(slug=ORDER_CARRIER), actor=_as("author")
    )
    decisions.submit_for_review(version=draft, actor=_as("author"))
    worker_round()
    with time_machine.travel(timezone.now() + timedelta(days=3), tick=False):
        approvals.sweep_review_deadlines()


def _logged_in(username: str) -> Client:
    client = Client()
    # Through the login form, as the person would (django-axes watches that door).
    response = client.post(
        "/admin/login/", {"username": username, "password": DEMO_PASSWORD, "next": START}
    )
    assert response.status_code == 302, f"{username} could not log in"
    return client


def _links_on(client: Client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200
    return _links(response.content.decode())


def test_every_admin_link_every_demo_user_sees_opens(day_of_work):
    """One walk per demo user over the same day of data (seeding it once for all of them)."""
    report = []
    for username, *_ in USERS:
        broken, opened = crawl(_logged_in(username))
        assert opened > 2, f"{username} reached only {opened} pages"
        report += [f"{username}: {b}" for b in broken]
    assert not report, "broken links:\n" + "\n".join(report)


def test_a_history_page_links_no_user_page_the_viewer_may_not_open(demo_day):
    order = _task("DEMO-0003").instance
    links = _links_on(_logged_in("reviewer"), f"/admin/processes/order/{order.pk}/history/")
    assert [href for href in links if USER_PAGE.search(href)] == []


def test_a_draft_offers_edit_table_only_to_its_authors(demo_day):
    draft = decisions.create_draft(
        rule_set=RuleSet.objects.get(slug=ORDER_CARRIER), actor=_as("author")
    )
    page = f"/admin/decisions/rulesetversion/{draft.pk}/change/"
    assert f"/admin/decisions/rulesetversion/{draft.pk}/table/" in _links_on(
        _logged_in("author"), page
    )
    links = _links_on(_logged_in("publisher"), page)
    assert [href for href in links if EDIT_TABLE.search(href)] == []

"""The submission gate: a process's threads take turns at submissions, except while one waits on
the network (`moderation.runtime.process`)."""

import threading
import time

from moderation.config import AkismetSettings
from moderation.runtime.process import one_submission_at_a_time, waiting_on_network
from moderation.scorers.akismet import build_akismet_client, verify_key
from tests.fakes.akismet_server import FAKE_KEY, FakeAkismet


def test_the_threads_of_a_process_run_their_submissions_one_at_a_time() -> None:
    inside, most = [0], [0]
    count = threading.Lock()

    def submit() -> None:
        with one_submission_at_a_time():
            with count:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.005)  # gives up the interpreter: without the gate another would enter
            with count:
                inside[0] -= 1

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most[0] == 1


def test_a_network_wait_lets_the_next_submission_in_and_then_takes_its_turn_back() -> None:
    waiting, other_done = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with one_submission_at_a_time():
            with waiting_on_network():
                waiting.set()
                order.append("first waits" if other_done.wait(5) else "first timed out")
            order.append("first resumes")

    def second() -> None:
        waiting.wait(5)
        with one_submission_at_a_time():
            order.append("second runs")
        other_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == ["second runs", "first waits", "first resumes"]


def test_outside_a_submission_a_network_wait_changes_nothing() -> None:
    with waiting_on_network():
        pass
    with one_submission_at_a_time():  # not left released or held by the block above
        pass


def test_akismets_answer_is_awaited_outside_the_gate() -> None:
    """A slow Akismet does not hold up the other submissions of the process."""
    order: list[str] = []
    with FakeAkismet(hang_seconds=1.5) as fake:
        fake.mode = "hang"
        client = build_akismet_client(
            AkismetSettings(key=FAKE_KEY, endpoint=fake.url), "https://b/"
        )

        def submit() -> None:
            with one_submission_at_a_time():
                verify_key(client)
                order.append("akismet answered")

        def other() -> None:
            deadline = time.monotonic() + 5
            while not fake.requests and time.monotonic() < deadline:
                time.sleep(0.01)
            with one_submission_at_a_time():
                order.append("other submission ran")

        threads = [threading.Thread(target=submit), threading.Thread(target=other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert order == ["other submission ran", "akismet answered"]

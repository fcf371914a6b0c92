"""Two writers in two threads updating one branch at once: both updates must land."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from reconciler.gitrepo.port import PushOutcome, ReadView, Signature
from tests.contract.gitworld import World

BOT = Signature("Reconciler", "bot@example.com", datetime(2024, 6, 1, 12, 0, tzinfo=UTC))
FILES = {
    "overlays/prod/app/kustomization.yaml": b"digest: sha256:aa\n",
    "overlays/staging/app/kustomization.yaml": b"digest: sha256:bb\n",
}


def race_two_writers(world: World) -> None:
    """Both writers build on the same tip, then push; the loser re-applies and lands second."""
    world.seed(FILES)
    writers = {"prod": world.client(), "staging": world.client()}
    both_read_the_tip = threading.Barrier(2, timeout=30)
    outcomes: dict[str, PushOutcome] = {}
    errors: list[BaseException] = []

    def write(name: str) -> None:
        calls = 0

        def edit(view: ReadView) -> dict[str, bytes | None]:
            nonlocal calls
            calls += 1
            if calls == 1:
                both_read_the_tip.wait()  # both build on the same tip before either pushes
            return {f"overlays/{name}/app/kustomization.yaml": f"{name} was here\n".encode()}

        try:
            outcomes[name] = writers[name].update_branch(
                "main", edit, message=f"{name} edit", author=BOT, committer=BOT
            )
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=write, args=(name,)) for name in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(o.attempts for o in outcomes.values()) == [1, 2]
    (loser_name,) = [name for name, outcome in outcomes.items() if outcome.attempts == 2]
    loser = outcomes[loser_name]
    winner = outcomes["prod" if loser_name == "staging" else "staging"]
    assert world.remote_tip("main") == loser.commit
    assert loser.commit is not None
    assert writers[loser_name].commit_info(loser.commit).parents == (winner.commit,)
    files = world.remote_files(loser.commit)
    assert files["overlays/prod/app/kustomization.yaml"] == b"prod was here\n"
    assert files["overlays/staging/app/kustomization.yaml"] == b"staging was here\n"

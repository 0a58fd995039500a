"""Building models in several threads of a fresh process: the heavy packages' first imports."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import threading
    from eventsep.method.mapping import PromptMapper
    from eventsep.models.separators.flowsep import FlowSepSeparator
    from eventsep.models.separators.audiosep import AudioSepSeparator

    errors = []

    def build():
        try:
            FlowSepSeparator.tiny_random()  # diffusers, transformers (T5, tokenizers)
            AudioSepSeparator.tiny_random()  # transformers (CLAP text tower)
            PromptMapper()("dog barking")  # sentence-transformers
        except BaseException as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("errors:", errors)
    raise SystemExit(1 if errors else 0)
    """
)


def test_three_threads_build_models_in_a_fresh_process_without_import_errors() -> None:
    # transformers/diffusers resolve names lazily and not thread-safely; without
    # eventsep.core.heavy's lock this failed with "cannot import name ... from 'transformers'"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

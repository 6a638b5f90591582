"""Running transforms in several threads at once, for the thread-safety tests."""
import threading

import numpy as np


def run_concurrently(cases, rounds, to_numpy, rtol, atol):
    """Each ``(fn, want)`` in its own thread, all released together by a barrier, each
    checking ``fn()`` against ``want`` ``rounds`` times. Returns the exceptions raised."""
    errors, barrier = [], threading.Barrier(len(cases))

    def loop(fn, want):
        try:
            barrier.wait()
            for _ in range(rounds):
                np.testing.assert_allclose(to_numpy(fn()), want, rtol=rtol, atol=atol)
        except BaseException as e:  # noqa: BLE001 - collected and reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=loop, args=case) for case in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors

"""A labelled progress line on stderr for long evaluations.

`Progress(total, "IWAE k=1000", unit="examples")` writes
``IWAE k=1000: 120/1000 examples [0:01:10 elapsed, ETA 0:08:33]`` to
stderr: rewritten in place on a terminal, and as separate lines (at most one
every `min_interval` seconds, plus the last) when stderr is a file or a
pipe, so logs stay short. `enabled=False` makes every call a no-op, so
library code can always call it.

Example:
>>> bar = Progress(3, "ELBO", unit="batches", enabled=False)
>>> for _ in range(3):
...     bar.update(1)
>>> bar.done
3
"""

import sys
import time


def _clock(seconds):
    seconds = int(round(max(0.0, seconds)))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Counts units of work and reports them, labelled, on a stream.

    Args:
        total: units of work in all.
        label: what is being computed (e.g. "ELBO", "IWAE k=1000").
        unit: the name of a unit ("examples", "batches").
        enabled: False: report nothing.
        stream: where to write (default: `sys.stderr` at the time of each
            write, so that redirections made later are honoured).
        min_interval: seconds between lines when the stream is not a
            terminal (the first and the last update are always written).
    """

    def __init__(self, total, label, unit="examples", enabled=True, stream=None, min_interval=10.0):
        self.total = int(total)
        self.label = str(label)
        self.unit = unit
        self.enabled = bool(enabled)
        self._stream = stream
        self.min_interval = float(min_interval)
        self.done = 0
        self.started = time.time()
        self._last_write = None
        self._closed = False

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    def text(self):
        """The current line, e.g. ``ELBO: 3/100 batches [0:00:02 elapsed, ETA 0:01:04]``."""
        elapsed = time.time() - self.started
        line = f"{self.label}: {self.done}/{self.total} {self.unit} [{_clock(elapsed)} elapsed"
        if 0 < self.done < self.total:
            line += f", ETA {_clock(elapsed * (self.total - self.done) / self.done)}"
        return line + "]"

    def update(self, n=1):
        """Adds `n` units of work done and reports when due."""
        self.done += int(n)
        if not self.enabled:
            return
        finished = self.done >= self.total
        stream = self.stream
        tty = bool(getattr(stream, "isatty", lambda: False)())
        now = time.time()
        if tty:
            stream.write("\r" + self.text() + ("\n" if finished else ""))
        elif finished or self._last_write is None or now - self._last_write >= self.min_interval:
            stream.write(self.text() + "\n")
        else:
            return
        self._last_write = now
        self._closed = finished
        stream.flush()

    def close(self):
        """Ends the line on a terminal if the work stopped short of `total`."""
        if self.enabled and not self._closed and self._last_write is not None:
            if getattr(self.stream, "isatty", lambda: False)():
                self.stream.write("\n")
            else:
                self.stream.write(self.text() + "\n")
            self.stream.flush()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

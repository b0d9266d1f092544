"""A step that burns CPU (~0.3 s busy loop) while holding ~100 MB (resource accounting)."""

import time

from shipyard.flows import FlowSpec, step


class BusyFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.burn)

    @step
    def burn(self):
        held = b"x" * (100 * 2**20)  # touched pages: resident while the loop runs
        deadline = time.process_time() + 0.3
        spins = 0
        while time.process_time() < deadline:
            spins += 1
        self.size = len(held)
        self.next(self.end)

    @step
    def end(self):
        pass


class ChildFlow(FlowSpec):
    """A step whose CPU is burnt by a child process it waits for."""

    @step
    def start(self):
        import subprocess
        import sys

        loop = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
        subprocess.run([sys.executable, "-c", loop], check=True)
        self.next(self.end)

    @step
    def end(self):
        pass

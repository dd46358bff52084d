"""The DRUP-logging Glucose solver the certificates replay on, without python-sat's leak.

python-sat (1.9.dev24 and earlier) logs a Glucose proof by ``fdopen()``-ing the proof file's
descriptor in C and never ``fclose()``-s that stream: every ``Solver(..., with_proof=True)``
leaves its ``FILE`` and the stream's 4 KiB buffer on the C heap, about 4.6 KB, invisible to
tracemalloc.  Under steady load that was the workers' RSS growth of about 1 MiB per minute
(OPERATIONS.md, "Worker memory").  ``proof_solver`` gives the C stream a duplicate descriptor
of its own and closes the stream when the solver is deleted: closing it closes only that
duplicate, so no descriptor that another thread has just been given can be closed by mistake.
Where that cannot be done (no C library to call, a python-sat whose stream is not reachable),
it falls back to python-sat's own proof logging, leak included.
"""

from __future__ import annotations

import functools
import os
import tempfile

from pysat.solvers import Solver, pysolvers

SOLVER = "glucose4"  # supports interrupt() from another thread and DRUP proof logging


@functools.cache
def _c_functions():
    """(fclose, fileno, PyCapsule_IsValid, PyCapsule_GetPointer), or None without a C
    library to call."""
    import ctypes  # here: ~1 ms of start-up that `pxl prove` on a small formula never needs

    try:
        libc = ctypes.CDLL(None)
        fclose, fileno = libc.fclose, libc.fileno
    except (OSError, AttributeError):
        return None
    fclose.argtypes = fileno.argtypes = [ctypes.c_void_p]
    fclose.restype = fileno.restype = ctypes.c_int
    # Prototypes of our own: setting argtypes on ctypes.pythonapi's would change them for
    # every other user in the process.
    capsule_valid = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.c_char_p)(
        ("PyCapsule_IsValid", ctypes.pythonapi))
    capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
        ("PyCapsule_GetPointer", ctypes.pythonapi))
    return fclose, fileno, capsule_valid, capsule_pointer


_supported = True  # False once a python-sat did not hand back its stream


class _ClosingProofSolver(Solver):
    """A Glucose solver logging DRUP to ``solver.solver.prfile`` (as ``with_proof=True``
    does), whose C stream is closed by ``delete()``."""

    def __init__(self, bootstrap_with=None) -> None:
        self._stream: int | None = None  # the C FILE*, while this object owns it
        self._fd = -1
        self._file_id: tuple[int, int] | None = None
        super().__init__(name=SOLVER, bootstrap_with=bootstrap_with)
        inner = self.solver
        proof = tempfile.TemporaryFile()  # noqa: SIM115 - closed by delete(), as pysat's own
        self._fd = fd = os.dup(proof.fileno())
        info = os.fstat(fd)
        self._file_id = (info.st_dev, info.st_ino)
        try:
            capsule = pysolvers.glucose41_tracepr(inner.glucose, fd)  # fdopen(fd) in C
        except BaseException:
            os.close(fd)  # no C stream was made
            proof.close()
            super().delete()
            raise
        inner.prfile, inner.prfp = proof, capsule  # where pysat's with_proof keeps them
        self._stream = self._stream_of(capsule, fd)
        if self._stream is None:
            # The C stream exists but cannot be reached: this one solver keeps it (and its
            # descriptor) for the life of the process; the next ones use pysat's path.
            global _supported
            _supported = False

    @staticmethod
    def _stream_of(capsule: object, fd: int) -> int | None:
        import ctypes  # loaded by _c_functions() already

        _fclose, fileno, capsule_valid, capsule_pointer = _c_functions()
        try:
            if not capsule_valid(capsule, None):
                return None
            stream = capsule_pointer(capsule, None)
        except (ctypes.ArgumentError, TypeError, ValueError):
            return None
        return stream if stream and fileno(stream) == fd else None

    def delete(self) -> None:
        stream, self._stream = getattr(self, "_stream", None), None
        super().delete()
        if stream is not None and self._still_ours():
            _c_functions()[0](stream)  # fclose: frees the FILE and its buffer, closes our duplicate

    def _still_ours(self) -> bool:
        """The duplicate descriptor is open on the proof file (a python-sat that closes the
        stream itself would have closed it; then closing it again must not happen)."""
        try:
            info = os.fstat(self._fd)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._file_id


def proof_solver(bootstrap_with=None) -> Solver:
    """A fresh Glucose solver logging its DRUP proof (read through ``.solver.prfile`` and
    ``.solver.prfp``, as with pysat's ``with_proof=True``); free it with ``delete()``."""
    if _supported and _c_functions() is not None:
        return _ClosingProofSolver(bootstrap_with)
    return Solver(name=SOLVER, bootstrap_with=bootstrap_with, with_proof=True)

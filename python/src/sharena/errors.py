"""sharena's exceptions, mapped from the C library's error codes in one table.

Every failure of the C library arrives here as a negative code (see
``sharena.h``); :func:`_make` turns it into an instance of the class that
:data:`_BY_CODE` names. Each class also derives from the built-in exception
a Python programmer would catch for that situation (``KeyError`` for a
missing key, ``PermissionError`` for a denial, ``MemoryError`` for a full
arena, ...).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Type

from . import _sharena as _c

__all__ = [
    "Error", "StaleRefError", "ArenaFullError", "AccessError", "ReadOnlyError",
    "NotFoundError", "KeyNotFoundError", "ArenaNotFoundError", "ExistsError",
    "CorruptArenaError", "LayoutError", "BrokerError", "ClosedError",
    "TypeMismatchError", "OutOfRangeError", "ValueTooLargeError",
    "InvalidArgumentError", "EncodingError", "BusyError", "TimedOutError",
    "LimitError", "DeadlockError",
]


class Error(Exception):
    """Base class of every sharena error.

    ``code`` is the C library's (negative) error code, ``errname`` its
    symbolic name such as ``"ESTALE"``.
    """

    code: int = 0
    errname: str = ""
    #: what the broker said when it refused an open (whose the arena is, its
    #: mode, how to reach another user's), else None
    broker_message: Optional[str] = None


class StaleRefError(Error):
    """Use after free: the object was dropped (in this or another process)."""


class ArenaFullError(Error, MemoryError):
    """The arena has no room left; nothing was half-written."""


class AccessError(Error, PermissionError):
    """The broker or the mapping refused access."""


class ReadOnlyError(AccessError):
    """A write to an arena mapped read-only."""


class NotFoundError(Error, LookupError):
    """Something named does not exist (key, root, arena or id)."""


class KeyNotFoundError(NotFoundError, KeyError):
    """A map key, root name or struct field that does not exist."""


class ArenaNotFoundError(NotFoundError, FileNotFoundError):
    """No arena of that name (open it with ``create=True``)."""

    __str__ = OSError.__str__


class ExistsError(Error, FileExistsError):
    """The arena already exists (``exclusive=True``)."""


class CorruptArenaError(Error):
    """The arena's data failed a consistency check."""


class LayoutError(Error):
    """The arena was made by a build with another format or layout."""


class BrokerError(Error, ConnectionError):
    """sharenad is not running, went away, or spoke another protocol."""


class ClosedError(Error, ValueError):
    """The arena (or its connection) is closed."""


class TypeMismatchError(Error, TypeError):
    """The object has another type than the operation needs."""


class OutOfRangeError(Error, IndexError):
    """An index, offset or size out of range."""


class ValueTooLargeError(Error, OverflowError):
    """A value does not fit (integers beyond 2**53 are refused)."""


class InvalidArgumentError(Error, ValueError):
    """An argument the C library refused (bad name, capacity, ...)."""


class EncodingError(Error, UnicodeError):
    """A string in the arena is not valid UTF-8."""


class BusyError(Error):
    """A writer kept the object inconsistent for too long."""


class TimedOutError(Error, TimeoutError):
    """A wait ran out of time."""


class DeadlockError(Error, RuntimeError):
    """This thread already holds the object's lock: taken again it would
    wait for itself. ``with view.locked()`` nests (it counts); this is
    raised by lower-level double locking only."""


class LimitError(Error):
    """A broker limit was reached (arenas, capacity or clients per user)."""


# The one table: C error code -> exception class.
_BY_CODE: Dict[int, Type[Error]] = {
    _c.ESTALE: StaleRefError,
    _c.EFULL: ArenaFullError,
    _c.EACCES: AccessError,
    _c.EPERM: AccessError,
    _c.EROFS: ReadOnlyError,
    _c.ENOENT: NotFoundError,
    _c.EEXIST: ExistsError,
    _c.ECORRUPT: CorruptArenaError,
    _c.ELAYOUT: LayoutError,
    _c.EUNSEALED: CorruptArenaError,
    _c.ECONNREFUSED: BrokerError,
    _c.EPROTO: BrokerError,
    _c.ECLOSED: ClosedError,
    _c.EDROPPED: BrokerError,
    _c.ETYPE: TypeMismatchError,
    _c.ERANGE: OutOfRangeError,
    _c.EOVERFLOW: ValueTooLargeError,
    _c.EINVAL: InvalidArgumentError,
    _c.ENAMETOOLONG: InvalidArgumentError,
    _c.EILSEQ: EncodingError,
    _c.EBUSY: BusyError,
    _c.EAGAIN: BusyError,
    _c.ETIMEDOUT: TimedOutError,
    _c.ENOSPC: LimitError,
    _c.EDEADLK: DeadlockError,
}

# ENOENT is more specific when we know what was looked up.
_NOT_FOUND: Dict[str, Type[Error]] = {
    "key": KeyNotFoundError,
    "root": KeyNotFoundError,
    "arena": ArenaNotFoundError,
}


def error_class(code: int, what: Optional[str] = None) -> Type[Error]:
    """The exception class for error ``code`` (``what`` is "key", "root",
    "arena" or "index" when known)."""
    if code == _c.ENOENT and what in _NOT_FOUND:
        return _NOT_FOUND[what]
    return _BY_CODE.get(code, Error)


# What to do about each error, appended to the C library's message, comes
# from the library too (sharena_strerror_hint): one table for every language.
_hint = _c.strerror_hint


def _message(code: int, what: Optional[str], detail: Any) -> str:
    if what == "arena" and isinstance(detail, tuple):
        # an open the broker refused, with its explanation (whose the arena
        # is, its mode, how to reach another user's)
        name, why = detail
        text = _message(code, what, name)
        if code == _c.EEXIST:
            # the broker says "open it without create" when the arena is not
            # the caller's own or not of the mode asked; else it was EXCL
            if "without create" in why:
                return f"arena {name!r}: {why} (create=False)"
            return (f"arena {name!r}: {why}; open it without exclusive=True "
                    f"to use the existing one")
        if why and why != _c.strerror(code):
            return f"{text} (broker: {why})"
        return text
    text = _c.strerror(code)
    if code == _c.EOVERFLOW and isinstance(detail, int):
        return (f"{detail} does not fit in a sharena number: integers are "
                f"stored as IEEE-754 doubles, exact only up to 2**53 (store "
                f"float({detail}) to accept rounding, or a str for exact digits)")
    if code == _c.EOVERFLOW and what == "add":
        value, delta = detail
        return (f"adding {int(delta)} to {value!r} would not give an exact "
                f"integer: integers are exact only up to 2**53 in a sharena "
                f"number, and an int add is refused past that (nothing was "
                f"changed; add a float such as {float(delta)!r} to accept "
                f"float64 rounding)")
    if code == _c.ESTALE and what == "entry":
        return (f"map entry {detail!r} refers to an object that was dropped "
                f"(through another ref, or by another process): the key is "
                f"still listed but has no value; del the key or assign it a "
                f"new value")
    if code == _c.EBUSY and what == "locks":
        return (f"close(): this process holds {detail} lock(s) on the arena "
                f"(inside `with view.locked()`, in this or another thread); "
                f"leave those blocks first (closing would release the locks "
                f"under the threads that hold them, or keep them until this "
                f"process exits)")
    if what == "index" and detail is not None:
        return f"index {detail} out of range"
    if code == _c.ENOENT and what == "arena":
        return f"arena {detail!r}: no such arena (pass create=True to make it)"
    if what in ("arena", "root") and detail is not None:
        text = f"{what} {detail!r}: {text}"
    elif code == _c.ECONNREFUSED and detail is not None:
        text = f"{text}: {detail}"  # the socket path
    return f"{text}; {_hint(code)}"


def _make(code: int, what: Optional[str], detail: Any) -> BaseException:
    """Called by the C extension for every error it raises."""
    cls = error_class(code, what)
    why = None
    if what == "arena" and isinstance(detail, tuple):
        why = detail[1]  # the broker's explanation of a refused open
    if issubclass(cls, KeyError) and detail is not None and what != "entry":
        exc = cls(detail)  # like dict: the missing key is the argument
    else:
        exc = cls(_message(code, what, detail))
        if isinstance(exc, OSError) and -10000 < code < 0:
            exc.errno = -code  # and str() reads "[Errno N] message"
            exc.strerror = _message(code, what, detail)
    exc.code = code
    exc.errname = _c.errnames.get(code, "EUNKNOWN")
    exc.broker_message = why
    return exc


_c._set_error_factory(_make)

"""sharena: a typed heap shared by unrelated processes on one Linux host.

    import sharena

    with sharena.open("demo", create=True) as arena:
        config = arena.map("config")        # a live MutableMapping
        config["greeting"] = "hello"        # visible to every process at once
        hits = config.add("hits")           # atomic across processes

Strings and numbers come back as ``str`` and ``float``, booleans as
``bool``; maps, vectors, structs and byte buffers come back as live views
that hold the object's id. See docs/api-python.md.
"""
from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import ItemsView, MutableMapping, MutableSequence, Mapping, Sequence, ValuesView
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union, get_origin

from . import _sharena as _c
from .errors import *  # noqa: F401,F403  (the exception classes)
from .errors import (ArenaNotFoundError, BrokerError, BusyError, Error,
                     KeyNotFoundError)
from . import errors as _errors

#: The release (the C library compiled into the extension reports it).
__version__: str = _c.LIBRARY_VERSION

__all__ = [
    "load",
    "open", "local", "from_fd", "delete", "arenas", "connect", "default_socket",
    "Arena", "Map", "Vector", "Bytes", "Struct", "Shape", "Ref", "View",
    "DEFAULT_CAPACITY", "MAX_SAFE_INTEGER",
] + list(_errors.__all__)

DEFAULT_CAPACITY: int = _c.DEFAULT_CAPACITY
#: Largest integer stored exactly (numbers are IEEE-754 doubles).
MAX_SAFE_INTEGER: int = 2 ** 53

View = _c.View


# ---------------------------------------------------------------------------
# Views

# Nesting of ``locked()`` is counted by the library (sharena_lock_nested:
# the same deadlock rule in every language): every block locks one level
# and unlocks one. A forked child holds none of its parent's locks (the
# library forgets them there): a block entered before the fork, left in
# the child, sees another fork generation and leaves without unlocking.
_fork_generation = 0


class _Locked:
    """Context manager of ``view.locked()``: holds the object's lock.
    Reentrant: nested ``locked()`` of the same object (through any view of
    it) in the same thread only counts. Waiting for the lock can be
    interrupted (Ctrl-C raises KeyboardInterrupt within a moment) and ends
    with ClosedError when another thread closes the arena."""

    __slots__ = ("_view", "_gens")

    def __init__(self, view: View) -> None:
        self._view = view
        self._gens: List[int] = []  # fork generation of each entry

    def __enter__(self) -> View:
        self._view._lock(nested=True)
        self._gens.append(_fork_generation)
        return self._view

    def __exit__(self, *exc: Any) -> None:
        if not self._gens or self._gens.pop() != _fork_generation:
            return  # not held in this process: entered before a fork
        self._view._unlock()


def _rebuild_view(arena: "Arena", id: int) -> Any:
    return arena.object(id)


class _ViewMixin:
    __slots__ = ()

    def locked(self) -> _Locked:
        """``with view.locked(): ...`` holds the object's lock (across
        processes) for a multi-step update. Operations of this thread on the
        object proceed; other threads and processes wait."""
        return _Locked(self)  # type: ignore[arg-type]

    def __reduce__(self) -> Any:
        # For multiprocessing with the spawn/forkserver start methods: the
        # arena is reopened by name in the other process.
        return (_rebuild_view, (self.arena, self.id))  # type: ignore[attr-defined]


_repr_local = threading.local()


def _guarded_repr(self: Any, fill: str, make: Any) -> str:
    """repr of a container that may reach itself: the inner occurrence
    prints as ``fill`` (``{...}`` / ``[...]``), as dict and list do. Views
    are made afresh on every read, so the guard is keyed by (arena, id)."""
    running = getattr(_repr_local, "running", None)
    if running is None:
        running = _repr_local.running = set()
    key = (id(self.arena), self.id)
    if key in running:
        return fill
    running.add(key)
    try:
        return make()
    finally:
        running.discard(key)


def _consistent(view: Any, read: Any) -> Any:
    """``read()`` in one consistent pass: under the object's lock, or on a
    read-only handle (which cannot lock) retried until the object's
    version is the same before and after the read. A read that a peer
    ignoring the lock changes anyway (RuntimeError from the iteration's
    change check) is retried too; BusyError after 1000 tries."""
    for _ in range(1000):
        try:
            if not view.arena.readonly:
                with view.locked():
                    return read()
            before = view.version
            out = read()
            if view.version == before:
                return out
        except RuntimeError as e:
            if "during iteration" not in str(e):
                raise
    raise BusyError(f"object {view.id} kept changing during copy(): no "
                    "consistent read after 1000 tries")


def _same_object(a: Any, b: Any) -> bool:
    return (isinstance(b, _c.View) and type(a) is type(b)
            and a.arena is b.arena and a.id == b.id)


class _MapItems(ItemsView):
    def __iter__(self) -> Iterator[Tuple[str, Any]]:
        return self._mapping._items()


class _MapValues(ValuesView):
    def __iter__(self) -> Iterator[Any]:
        return self._mapping._values()


class Map(_c.MapBase, _ViewMixin, MutableMapping):
    """A live view of a map in an arena: ``str`` keys, values stored in the
    arena. Plain values assigned to it (str, int, float, bool, bytes, dict,
    list) become objects the map owns; views assigned to it are stored as
    references and stay their owner's."""

    __slots__ = ()

    def items(self) -> _MapItems:  # type: ignore[override]
        return _MapItems(self)

    def values(self) -> _MapValues:  # type: ignore[override]
        return _MapValues(self)

    def popitem(self) -> Tuple[str, Any]:
        for key in self:
            try:
                return key, self.pop(key)
            except KeyError:
                continue  # removed meanwhile by someone else
        raise KeyNotFoundError("popitem(): map is empty")

    def __eq__(self, other: object) -> bool:
        if _same_object(self, other):
            return True  # as dict's `d == d`, even when it reaches itself
        return MutableMapping.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> Dict[str, Any]:
        """A plain dict of the map's entries, read in one consistent pass
        (under the map's lock): values as stored, containers as views.
        For a deep copy use to_python()."""
        return _consistent(self, lambda: dict(self.items()))

    def __or__(self, other: Any) -> Dict[str, Any]:
        """``m | other``: a plain dict, as ``dict | dict`` makes one."""
        if not isinstance(other, Mapping):
            return NotImplemented
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other: Any) -> Dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        out = dict(other)
        out.update(self.copy())
        return out

    def __ior__(self, other: Any) -> "Map":
        """``m |= other``: update() in place (all or nothing)."""
        self.update(other)
        return self

    @classmethod
    def fromkeys(cls, iterable: Any, value: Any = None) -> Dict[str, Any]:
        """As dict.fromkeys: a plain dict (a Map lives in an arena, so make
        one with ``arena.map(name).update(Map.fromkeys(...))``)."""
        return dict.fromkeys(iterable, value)

    def __repr__(self) -> str:
        try:
            return _guarded_repr(self, "{...}",
                                 lambda: f"sharena.Map({dict(self.items())!r})")
        except Error:
            return f"<sharena.Map id={self.id} (unavailable)>"


class Vector(_c.VectorBase, _ViewMixin, MutableSequence):
    """A live view of a vector in an arena (a ``MutableSequence``)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if _same_object(self, other):
            return True  # as list's `l == l`, even when it reaches itself
        if isinstance(other, (str, bytes, bytearray)) or not isinstance(other, Sequence):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> List[Any]:
        """A plain list of the elements, read in one consistent pass (under
        the vector's lock): values as stored, containers as views. For a
        deep copy use to_python()."""
        return _consistent(self, lambda: list(self))

    def __add__(self, other: Any) -> List[Any]:
        if isinstance(other, (str, bytes, bytearray)) or not isinstance(other, Sequence):
            return NotImplemented
        return self.copy() + list(other)

    def __radd__(self, other: Any) -> List[Any]:
        if isinstance(other, (str, bytes, bytearray)) or not isinstance(other, Sequence):
            return NotImplemented
        return list(other) + self.copy()

    def __mul__(self, n: Any) -> List[Any]:
        return self.copy() * n

    __rmul__ = __mul__

    def __imul__(self, n: Any) -> "Vector":
        """In place, as list does: n <= 0 empties the vector."""
        n = n.__index__()
        with self.locked():
            if n <= 0:
                self.clear()
            elif n > 1:
                self.extend(self.copy() * (n - 1))
        return self

    def sort(self, *, key: Any = None, reverse: bool = False) -> None:
        """Sort in place, as list.sort (stable), under the vector's lock:
        the values are read, sorted in Python, and the new order written
        back in one slice assignment, which is all or nothing (a key that
        raises, or elements that do not compare, leave the vector as it
        was)."""
        with self.locked():
            before = self.version
            items = list(self)
            items.sort(key=key, reverse=reverse)
            if self.version != before:  # a key or __lt__ wrote to it
                raise ValueError("vector modified during sort")
            self[:] = items

    def __repr__(self) -> str:
        try:
            return _guarded_repr(self, "[...]",
                                 lambda: f"sharena.Vector({list(self)!r})")
        except Error:
            return f"<sharena.Vector id={self.id} (unavailable)>"


class Bytes(_c.BytesBase, _ViewMixin):
    """A fixed-size byte buffer in an arena. ``memoryview(b)`` and
    ``numpy.frombuffer(b, ...)`` use the arena's memory directly: no copy,
    and writes through them are seen by every process at once."""

    __slots__ = ()

    @property
    def size(self) -> int:
        return len(self)

    def __getitem__(self, key: Union[int, slice]) -> Any:
        with memoryview(self) as mv:
            item = mv[key]
            return bytes(item) if isinstance(item, memoryview) else item

    def __setitem__(self, key: Union[int, slice], value: Any) -> None:
        with memoryview(self) as mv:
            mv[key] = value

    def __bytes__(self) -> bytes:
        return self.read()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Bytes) or isinstance(other, (bytes, bytearray, memoryview)):
            return self.read() == bytes(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        try:
            n = len(self)
        except Error:
            return f"<sharena.Bytes id={self.id} (unavailable)>"
        return f"<sharena.Bytes id={self.id} size={n}>"


class Struct(_c.StructBase, _ViewMixin, Mapping):
    """A struct: fixed fields described by its shape (which any language
    can read). Fields are read and written by name, as items or
    attributes: ``s["x"]``, ``s.x``, ``s.x = 3``."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"struct has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_") and name in self:
            self[name] = value
        else:
            raise AttributeError(f"struct has no field {name!r}")

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self))

    def update(self, values: Optional[Mapping] = None, **kw: Any) -> None:
        """Set several fields as one change: under the struct's lock, and a
        failure (an unknown field, a wrong type, a full arena) leaves every
        field as it was."""
        items = list((values or {}).items()) + list(kw.items())
        for k, _ in items:
            if k not in self:
                raise KeyError(f"struct has no field {k!r}")
        with self.locked():
            old = {}
            for k, _ in items:
                v = self[k]
                old[k] = bytes(v) if isinstance(v, Bytes) else v
            done = []
            try:
                for k, v in items:
                    self[k] = v
                    done.append(k)
            except BaseException:
                for k in reversed(done):
                    self[k] = old[k]
                raise

    def __repr__(self) -> str:
        try:
            return f"sharena.Struct({self.to_python()!r})"
        except Error:
            return f"<sharena.Struct id={self.id} (unavailable)>"


_FIELD_TYPES = {
    "string": _c.T_STRING, "str": _c.T_STRING, str: _c.T_STRING,
    "number": _c.T_NUMBER, "float": _c.T_NUMBER, float: _c.T_NUMBER,
    int: _c.T_NUMBER, "bool": _c.T_BOOL, bool: _c.T_BOOL,
}


def _nullable_spec(spec: Any) -> Tuple[Any, int]:
    """``"number?"``, ``Optional[float]`` or ``float | None``: the type and
    FIELD_NULLABLE."""
    if isinstance(spec, str) and spec.endswith("?"):
        return spec[:-1], _c.FIELD_NULLABLE
    args = getattr(spec, "__args__", None)
    origin = get_origin(spec)
    if (isinstance(args, tuple) and len(args) == 2 and type(None) in args
            and (origin is Union or (origin is not None
                                     and getattr(origin, "__name__", "") == "UnionType"))):
        other = args[0] if args[1] is type(None) else args[1]
        return other, _c.FIELD_NULLABLE
    return spec, 0


def _field_def(name: str, spec: Any) -> Tuple[str, int, int, int]:
    spec, flags = _nullable_spec(spec)
    if flags and spec in ("bytes", bytes):
        raise TypeError(f"field {name!r}: a bytes field cannot be nullable")
    if isinstance(spec, tuple) and len(spec) == 2 and spec[0] in ("bytes", bytes):
        size = int(spec[1])
        if size < 0:
            raise ValueError(f"field {name!r}: bytes size must be >= 0")
        return (name, _c.T_BYTES, size, flags)
    if spec in ("bytes", bytes):
        raise TypeError(f"field {name!r}: bytes fields need a size: ('bytes', n)")
    try:
        return (name, _FIELD_TYPES[spec], 0, flags)
    except (KeyError, TypeError):
        raise TypeError(f"field {name!r}: type must be 'string', 'number', "
                        f"'bool' or ('bytes', size), or 'string?', 'number?', "
                        f"'bool?' (Optional[...]) for a field that may be "
                        f"None, not {spec!r}") from None


class Shape(_c.ShapeBase, _ViewMixin):
    """A struct shape: field names and types, stored in the arena."""

    __slots__ = ()

    @property
    def names(self) -> List[str]:
        return [f[0] for f in self.fields]

    def new(self, **values: Any) -> Struct:
        """A new struct of this shape (owned by you: insert it with
        ``owned=True`` or ``drop()`` it), fields set from ``values``."""
        st = self._new()
        try:
            for k, v in values.items():
                st[k] = v
        except BaseException:
            st.drop()
            raise
        return st

    def __repr__(self) -> str:
        try:
            return f"<sharena.Shape id={self.id} fields={self.fields!r}>"
        except Error:
            return f"<sharena.Shape id={self.id} (unavailable)>"


def _deliver(fut: "asyncio.Future[Any]", ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


def _time_out(fut: "asyncio.Future[int]") -> None:
    if not fut.done():
        fut.set_exception(_errors._make(_c.ETIMEDOUT, None, None))


class _LoopWatch:
    """The arena's pollable notifier as a reader on one event loop, shared
    by every pending ``Ref.changed()`` on that arena and loop. When the fd
    fires, ``arm()`` says whether the arena-wide version moved; if it did,
    each pending ref compares its own version. Runs on the loop's thread
    only (as the notifier requires)."""

    __slots__ = ("loop", "notifier", "fd", "pending", "pid", "closed", "__weakref__")

    def __init__(self, arena: "Arena", loop: asyncio.AbstractEventLoop) -> None:
        self.notifier = arena._notifier()  # Error: ENOSYS, EROFS, EMFILE...
        self.fd: int = self.notifier.fileno()
        self.loop = weakref.ref(loop)  # the registry's key: not kept alive
        self.pending: Dict["asyncio.Future[int]", "Ref"] = {}
        self.pid = os.getpid()
        self.closed = False
        try:
            loop.add_reader(self.fd, self._ready)
        except BaseException:
            self.notifier.close()
            raise

    def add(self, ref: "Ref", fut: "asyncio.Future[int]") -> None:
        self.pending[fut] = ref
        fut.add_done_callback(self._forget)
        self._ready()  # arm (a change since the ref looked resolves it now)

    def _forget(self, fut: "asyncio.Future[int]") -> None:
        self.pending.pop(fut, None)

    def _ready(self) -> None:
        try:
            # arm() is True while the arena moved since the last look: look
            # again. With nothing pending, one call drains and stops (no
            # wait left queued: writers stop paying for a wake-up).
            while self.notifier.arm():
                if not self.pending:
                    return
                for fut, ref in list(self.pending.items()):
                    if fut.done():
                        continue
                    try:
                        v = ref._poll()
                    except Error as e:  # dropped (StaleRefError), closed
                        fut.set_exception(e)
                        continue
                    if v is not None:
                        fut.set_result(v)
        except Error as e:  # ClosedError once the arena is closed
            self.close(e)

    def close(self, exc: BaseException) -> None:
        """Fail what is pending with ``exc``; unregister; release the fds."""
        self.closed = True
        loop = self.loop()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self.fd)
        for fut in list(self.pending):
            if not fut.done():
                fut.set_exception(exc)
        self.pending.clear()
        self.notifier.close()


# Arena -> {loop: _LoopWatch}; arenas without a usable notifier map to None.
_loop_watches: "weakref.WeakKeyDictionary[Arena, Any]" = weakref.WeakKeyDictionary()
# Wait sets of the changed() calls pending on helper threads, per arena:
# Arena.close() cancels them.
_wait_sets: "weakref.WeakKeyDictionary[Any, weakref.WeakSet[Any]]" = weakref.WeakKeyDictionary()


def _loop_watch(arena: "Arena", loop: asyncio.AbstractEventLoop) -> Optional[_LoopWatch]:
    per_loop = _loop_watches.get(arena)
    if per_loop is None:
        per_loop = _loop_watches[arena] = weakref.WeakKeyDictionary()
    w: Optional[_LoopWatch] = per_loop.get(loop)
    if w is not None and not w.closed and w.pid == os.getpid():
        return w
    try:
        w = _LoopWatch(arena, loop)
    except (Error, NotImplementedError):
        return None  # a helper thread per wait instead
    per_loop[loop] = w
    return w


class Ref(_c.RefBase, _ViewMixin):
    """A reference to one object by id: ``.value`` reads and writes it,
    ``.add()`` adds atomically, ``.wait()`` / ``await .changed()`` block
    until it changes."""

    __slots__ = ()

    def __iadd__(self, delta: float) -> "Ref":
        self.add(delta)
        return self

    async def changed(self, timeout: Optional[float] = None) -> int:
        """Await the next change of the object (after the version last seen
        by ``.value`` or a previous wait); returns the new version.

        On Linux 6.7+ the event loop itself waits: the arena's pollable
        notifier (an io_uring futex wait whose completion signals an
        eventfd) is a reader on the loop, shared by every pending
        ``changed()`` on that arena and loop, and a writer wakes the loop
        directly. Elsewhere (older kernels, seccomp, read-only arenas, a
        loop without ``add_reader``, ``SHARENA_NO_IO_URING=1``) the wait
        runs on a helper thread (one per pending call) that sleeps in the
        kernel without the GIL, on a mapping of its own (a wait set):
        cancelling the awaiting task, or closing the arena, cancels that
        wait set and the thread ends at once. The event loop is never
        blocked. Raises TimedOutError (a
        TimeoutError) and StaleRefError like ``wait()``."""
        loop = asyncio.get_running_loop()
        watch = _loop_watch(self.arena, loop)  # type: ignore[arg-type]
        if watch is None:
            return await self._changed_on_thread(loop, timeout)
        v = self._poll()
        if v is not None:
            return v
        fut: "asyncio.Future[int]" = loop.create_future()
        watch.add(self, fut)
        timer = None if timeout is None else loop.call_later(timeout, _time_out, fut)
        try:
            return await fut
        finally:
            if timer is not None:
                timer.cancel()

    async def _changed_on_thread(self, loop: asyncio.AbstractEventLoop,
                                 timeout: Optional[float]) -> int:
        fut: "asyncio.Future[int]" = loop.create_future()
        cancel = threading.Event()
        arena = self.arena
        # its own mapping: cancelling it (sharena_arena_cancel_waits) ends
        # this wait and no other; Arena.close() cancels every one
        ws = arena._wait_set()  # type: ignore[attr-defined]
        sets = _wait_sets.setdefault(arena, weakref.WeakSet())
        sets.add(ws)
        if arena.closed:  # closed between the two lines above
            ws.cancel()

        def run() -> None:
            try:
                v = ws.wait(self, timeout)
                if v is None:  # cancelled
                    if cancel.is_set():
                        return
                    raise _errors._make(_c.ECLOSED, None, None)
                result = (True, v)
            except BaseException as e:  # delivered to the awaiting task
                result = (False, e)
            finally:
                ws.cancel()  # unmaps it
            try:
                loop.call_soon_threadsafe(_deliver, fut, *result)
            except RuntimeError:
                pass  # the loop is closed: nobody is waiting any more

        threading.Thread(target=run, name="sharena-changed", daemon=True).start()
        try:
            return await fut
        finally:
            cancel.set()
            ws.cancel()

    def __repr__(self) -> str:
        try:
            return f"<sharena.Ref id={self.id} {self.type}={self.value!r}>"
        except Error:
            return f"<sharena.Ref id={self.id} (unavailable)>"


# ---------------------------------------------------------------------------
# Arenas

_all_arenas: "weakref.WeakSet[Arena]" = weakref.WeakSet()
_opened: "weakref.WeakValueDictionary[Tuple[Any, ...], Arena]" = weakref.WeakValueDictionary()
_connections: "weakref.WeakValueDictionary[Any, Any]" = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # The child has one thread: no call in progress, no lock held.
    global _fork_generation
    _fork_generation += 1
    for a in list(_all_arenas):
        a._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _reopen(name: str, socket: Optional[str], readonly: bool) -> "Arena":
    key = (os.getpid(), socket, name, readonly)
    a = _opened.get(key)
    if a is not None and not a.closed:
        return a
    return open(name, socket=socket, readonly=readonly)


class Arena(_c.ArenaBase):
    """A mapped arena. Use it as a context manager, or call ``close()``:
    closing invalidates every view (they raise ClosedError). Buffers still
    exported by ``Bytes`` views keep the memory mapped until released."""

    __slots__ = ("_seen",)

    def __enter__(self) -> "Arena":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the arena: views raise ClosedError from now on, and so do
        pending ``changed()`` waits (also while a ``Bytes`` buffer is still
        exported, which keeps the mapping, and the notifier, alive).

        Calls running in other threads finish first, or end with
        ClosedError (waits and lock waits within 50 ms). Refused with
        BusyError while this process holds a lock on the arena (inside
        ``with view.locked()``, in any thread): leave those blocks first.
        Idempotent; in a forked child it returns at once."""
        super().close()
        for ws in list(_wait_sets.pop(self, ())):
            ws.cancel()
        per_loop = _loop_watches.pop(self, None)
        for w in list(per_loop.values()) if per_loop else ():
            loop = w.loop() if w is not None and not w.closed else None
            if loop is not None and not loop.is_closed():
                exc = _errors._make(_c.ECLOSED, None, None)
                loop.call_soon_threadsafe(w.close, exc)

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("read-only" if self.readonly else "read-write")
        return f"<sharena.Arena {self.name!r} {state}>"

    def __reduce__(self) -> Any:
        if not self.brokered:
            raise TypeError("an arena made with sharena.local() cannot be pickled: "
                            "share it by fork or pass arena.fd to the other process")
        # by its owner-qualified name: the plain one may mean another arena
        # in the receiving process (another user's namespace, a policy)
        return (_reopen, (self.qualified_name or self.name, self.socket,
                          self.readonly))

    @property
    def owner(self) -> str:
        """The arena owner's login name (its uid as a str when it has none);
        ``owner_uid`` is the number. For an arena made with ``local()`` or
        ``from_fd()``: the memfd's owner."""
        import pwd
        try:
            return pwd.getpwuid(self.owner_uid).pw_name
        except KeyError:
            return str(self.owner_uid)

    # -- named roots ---------------------------------------------------------

    def map(self, name: str) -> Map:
        """The map at root ``name``, created empty if missing."""
        return self._root_ensure(name, _c.T_MAP)

    def vector(self, name: str) -> Vector:
        """The vector at root ``name``, created empty if missing."""
        return self._root_ensure(name, _c.T_VECTOR)

    def bytes(self, name: str, size: int) -> Bytes:
        """The byte buffer at root ``name``, created zero-filled with
        ``size`` bytes if missing (an existing one must have that size)."""
        if size < 0:
            raise ValueError("size must be >= 0")
        return self._root_ensure(name, _c.T_BYTES, size)

    def number(self, name: str) -> Ref:
        """A Ref to the number at root ``name``, created as 0 if missing
        (race-free across processes: use it as a shared counter)."""
        return self._root_ensure(name, _c.T_NUMBER)

    def string(self, name: str) -> Ref:
        """A Ref to the string at root ``name``, created empty if missing."""
        return self._root_ensure(name, _c.T_STRING)

    def root(self, name: str) -> Any:
        """The value at root ``name`` (KeyNotFoundError if none)."""
        return self._get(self._root_id(name))

    def roots(self) -> Dict[str, Any]:
        """A snapshot ``{name: value}`` of every root."""
        return self._get(self._roots_id).copy()

    def __getitem__(self, name: str) -> Any:
        return self.root(name)

    def __setitem__(self, name: str, value: Any) -> None:
        """Bind root ``name`` to ``value`` (plain values are owned by the
        roots directory; views are bound as references)."""
        self._root_set(name, value)

    def __delitem__(self, name: str) -> None:
        self._root_remove(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._get(self._roots_id)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._get(self._roots_id).copy()))

    def __len__(self) -> int:
        return len(self._get(self._roots_id))

    def set_root(self, name: str, value: Any, *, owned: Optional[bool] = None) -> None:
        """``arena[name] = value`` with explicit ownership for views you
        created (``owned=True`` hands the object to the directory)."""
        if owned is None:
            self._root_set(name, value)
        else:
            self._root_set(name, value, owned)

    # -- objects by id ---------------------------------------------------------

    def ref(self, key: Union[str, int]) -> Ref:
        """A Ref to root ``key`` (a str) or to the object with id ``key``."""
        if isinstance(key, str):
            key = self._root_id(key)
        return self._ref(key)

    def object(self, id: int) -> Any:
        """The object with ``id`` (as another process or language passed
        it): a view for maps, vectors, bytes, structs and shapes, a Ref for
        strings, numbers and booleans."""
        return self._view(id)

    def get(self, id: int) -> Any:
        """The value of the object with ``id`` (str/float/bool or a view)."""
        return self._get(id)

    def new(self, value: Any) -> Any:
        """Store ``value`` as a new object that belongs to you (drop it, or
        insert it with ``owned=True``); returns its view or Ref."""
        return self._view(self._new(value))

    def shape(self, fields: Union[Mapping, Sequence]) -> Shape:
        """A new struct shape. ``fields`` maps names to types: ``"string"``
        (or ``str``), ``"number"`` (``float``), ``"bool"`` (``bool``) or
        ``("bytes", size)``; a sequence of ``(name, type)`` pairs works
        too. ``"string?"``, ``"number?"``, ``"bool?"`` (or
        ``Optional[str]``, ...) make a field nullable: it may hold None, and
        a new struct has it None. Storing None in any other field raises
        TypeError and changes nothing."""
        items = fields.items() if isinstance(fields, Mapping) else fields
        return self._shape([_field_def(n, t) for n, t in items])

    # -- changes, state ----------------------------------------------------------

    def wait(self, timeout: Optional[float] = None, since: Optional[int] = None) -> int:
        """Block until anything in the arena changes after version ``since``
        (default: the version the previous wait returned, or now). Returns
        the new arena version; TimedOutError on timeout."""
        if since is None:
            since = getattr(self, "_seen", None)
            if since is None:
                since = self.version
        v = self._wait(since, timeout)
        self._seen = v
        return v

    def stat(self) -> Dict[str, Any]:
        """Counters of the arena from its mapping (capacity, used_bytes,
        objects, ...: always there, even with the broker gone) plus the
        broker's view: ``clients``, ``uid``, ``gid``, ``mode``. Those four
        are None when the broker cannot tell: a local arena, an arena
        deleted from the broker, or a broker that is not reachable (the
        arena stays mapped and usable without it)."""
        info = self._info()
        st = None
        if self.brokered and self._conn is not None:
            try:
                # by owner: the plain name may be another arena
                st = self._conn.stat(self.qualified_name or self.name)
            except (ArenaNotFoundError, BrokerError):
                st = None  # deleted, or the broker is gone; still mapped here
        for k in ("clients", "uid", "gid", "mode"):
            info[k] = st[k] if st else None
        return info

    def save(self, path: Union[str, "os.PathLike[str]"]) -> Dict[str, int]:
        """Write a consistent image of this arena to ``path`` (a temporary
        file, fsync, rename). Writers of the arena wait while it is taken;
        readers do not. Returns ``{"bytes", "image_bytes", "barrier_ns"}``.
        Load it with :func:`sharena.load`."""
        code, message, info = self._save(os.fspath(path))
        if code < 0:
            raise _snapshot_error(code, message, f"save to {os.fspath(path)!r}")
        return info

    def fsck(self, repair: bool = False) -> Dict[str, Any]:
        """Check every invariant of the arena (``repair=True`` fixes what
        can be fixed). Returns the report with ``ok`` and ``problems``."""
        ok, report, problems = self._fsck(repair)
        report["ok"] = ok
        report["problems"] = problems
        return report

    def delete(self) -> None:
        """Remove this arena's name from the broker. The memory stays mapped
        (here and elsewhere) until every process has closed it."""
        if not self.brokered:
            raise TypeError("a local arena has no name in a broker")
        self._conn.delete(self.qualified_name or self.name)


_c._register(arena=Arena, map=Map, vector=Vector, bytes=Bytes, struct=Struct,
             shape=Shape, ref=Ref)


def _track(a: Arena) -> Arena:
    _all_arenas.add(a)
    return a


# ---------------------------------------------------------------------------
# Module functions

def default_socket() -> str:
    """The broker socket used when none is given: ``$SHARENA_SOCKET``, else
    ``$XDG_RUNTIME_DIR/sharena/broker.sock``, else
    ``/tmp/sharena-$UID/broker.sock``."""
    return _c.default_socket()


def connect(socket: Union[str, "os.PathLike[str]", None] = None) -> Any:
    """The process's connection to the broker at ``socket`` (shared by every
    arena opened through it; re-made automatically after fork)."""
    path = os.fspath(socket) if socket is not None else None
    key = (os.getpid(), path)
    with _registry_lock:
        conn = _connections.get(key)
        if conn is None:
            conn = _c.connect(path)
            _connections[key] = conn
        return conn


def _check_capacity(capacity: Optional[int]) -> None:
    if capacity is not None and not _c.MIN_CAPACITY <= capacity <= _c.MAX_CAPACITY:
        raise ValueError(f"capacity must be {_c.MIN_CAPACITY}..{_c.MAX_CAPACITY} bytes "
                         f"(or None for {DEFAULT_CAPACITY}), not {capacity}")


def open(name: str, *, create: bool = False, capacity: Optional[int] = None,
         readonly: bool = False, socket: Union[str, "os.PathLike[str]", None] = None,
         exclusive: bool = False, mode: Optional[int] = None) -> Arena:
    """Open the arena called ``name`` through the broker ``sharenad``.

    ``create=True`` makes it if missing (``capacity`` bytes, default 64 MiB,
    sparse; ``mode`` like 0o600; ``exclusive=True`` fails with ExistsError
    when it already exists). ``readonly=True`` maps it read-only. ``socket``
    is the broker's path (default: :func:`default_socket`; a per-user broker
    is started there if none answers, unless ``SHARENA_AUTOSTART=0``).

    Names: a plain ``name`` is your own arena (or one the broker's policy
    file shares under that name); ``"user:name"`` (login name or uid) is that
    user's, opened without ``create``. With ``create=True`` an existing arena
    that is not your own, or not of the ``mode`` asked, raises ExistsError
    naming its owner and mode; one is created only in your own namespace.
    ``arena.created``, ``arena.owner_uid`` (``arena.owner``), ``arena.mode``
    and ``arena.qualified_name`` say what the open found.
    """
    if not isinstance(name, str):
        raise TypeError("arena names are str")
    flags = 0
    if create:
        flags |= _c.CREATE
    if exclusive:
        if not create:
            raise ValueError("exclusive=True needs create=True")
        flags |= _c.EXCL
    if readonly:
        flags |= _c.READONLY
    _check_capacity(capacity)
    conn = connect(socket)
    a = conn.open(name, flags, capacity or 0, mode or 0)
    _track(a)
    _opened[(os.getpid(), conn.path, name, bool(readonly))] = a
    if a.qualified_name:  # what a pickled arena reopens by
        _opened[(os.getpid(), conn.path, a.qualified_name, bool(readonly))] = a
    return a


def local(capacity: Optional[int] = None, name: str = "local") -> Arena:
    """An arena made in this process, without a broker: shared with child
    processes by fork (``multiprocessing`` with the fork start method), or
    with others by passing ``arena.fd`` over a Unix socket."""
    _check_capacity(capacity)
    return _track(_c.create_local(name, capacity or 0))


def from_fd(fd: int, readonly: bool = False) -> Arena:
    """Map an arena from a sealed memfd another process passed (the fd is
    duplicated; you keep yours)."""
    return _track(_c.from_fd(fd, readonly))


def delete(name: str, *, socket: Union[str, "os.PathLike[str]", None] = None) -> None:
    """Remove arena ``name`` from the broker; processes that have it mapped
    keep using it until they close it."""
    connect(socket).delete(name)


def _snapshot_error(code: int, message: str, what: str) -> BaseException:
    """The exception for a failed save or load, with the library's reason."""
    exc = _errors._make(code, None, None)
    text = f"{what}: {message} ({exc.errname})" if message else f"{what}: {exc}"
    new = type(exc)(text)
    new.code = exc.code  # type: ignore[attr-defined]
    new.errname = exc.errname  # type: ignore[attr-defined]
    new.broker_message = None  # type: ignore[attr-defined]
    if isinstance(new, OSError) and -10000 < code < 0:
        new.errno = -code
        new.strerror = text
    return new


def load(path: Union[str, "os.PathLike[str]"], name: str, *,
         mode: Optional[int] = None, readonly: bool = False,
         socket: Union[str, "os.PathLike[str]", None] = None) -> Arena:
    """Create arena ``name`` from an image written by :meth:`Arena.save` (or
    ``sharena save``) and open it.

    The whole image is checked before anything is created (magic, versions,
    every run, checksum), and the new arena is checked with fsck before
    use. A corrupt, truncated or foreign image raises (``errname``
    ECORRUPT or ELAYOUT, the reason in the message) and leaves no arena; a
    name that exists raises ExistsError. ``mode`` is the new arena's access
    mode (default 0o600).
    """
    if not isinstance(name, str):
        raise TypeError("arena names are str")
    conn = connect(socket)
    code, message = conn.load(os.fspath(path), name, mode or 0)
    if code < 0:
        raise _snapshot_error(code, message, f"load {os.fspath(path)!r} as {name!r}")
    return open(name, readonly=readonly, socket=socket)


def arenas(*, socket: Union[str, "os.PathLike[str]", None] = None) -> List[Dict[str, Any]]:
    """Every arena the broker lets this process see, as dicts."""
    return connect(socket).list()

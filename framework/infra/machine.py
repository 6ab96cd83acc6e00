"""How much memory this process may still use: the one place that asks the machine.

``available_bytes`` takes the least of what the kernel says is available, a cgroup
v2 limit and the address-space limit (``ulimit -v``); ``check_allocation`` refuses
one large array that cannot fit, with a sentence instead of a bare MemoryError.
Kept apart from ``memory.py`` (the estimate, which knows the layers) so that the
parameters can ask before they allocate without an import cycle.
"""
import os


def available_bytes():
    """Memory this process can still use: MemAvailable from /proc/meminfo, capped by a
    cgroup v2 limit and by the address-space limit (``ulimit -v``, RLIMIT_AS) when
    there are any, else the free pages ``os.sysconf`` reports; None if none is known."""
    found = _meminfo_available()
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            found = None
    for limit in (_cgroup_room(), _address_space_room()):
        if limit is not None:
            found = limit if found is None else min(found, limit)
    return found


def _address_space_room():
    """RLIMIT_AS minus the address space this process already maps, if limited."""
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm", encoding="ascii") as handle:
            mapped = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        return max(0, soft - mapped)
    except (ImportError, OSError, ValueError, IndexError):
        return None


def check_allocation(nbytes, what):
    """Refuse (ValueError) one allocation of ``nbytes`` that cannot fit in the memory
    available, before NumPy tries and fails with a bare MemoryError. Allocations under
    64 MB are not checked (a file read per small array would cost more than it saves)."""
    if nbytes < SMALL_ALLOCATION:
        return
    available = available_bytes()
    if available is not None and nbytes > available:
        raise ValueError(f"{what} needs {format_bytes(nbytes)}; this machine has "
                         f"{format_bytes(available)} available; refused before allocating")


SMALL_ALLOCATION = 64 << 20


def _meminfo_available():
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room():
    """cgroup v2 ``memory.max - memory.current`` of this process's group, if limited."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as handle:
            limit = handle.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as handle:
            return max(0, int(limit) - int(handle.read().strip()))
    except (OSError, ValueError):
        return None


def format_bytes(count):
    """``80.0 GB``, ``512.0 MB``, ``12.0 kB`` (decimal units, one decimal)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"

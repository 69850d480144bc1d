# The optional C scanner (native/scan.c); chalicelib.core.csvprofile imports it.
START_RECORD: int
START_FIELD: int
IN_FIELD: int
IN_QUOTED: int

def scan(
    buf: bytes, delimiter: int, width: int, state: int, fields: int, inner: int, /
) -> tuple[int, int, int, int, int] | None: ...
def utf8(buf: bytes, /) -> int: ...
def sample(
    buf: bytes, delimiter: int, width: int, kept: int, room: int, /
) -> (
    tuple[
        int,
        int,
        list[tuple[int, int, int, int, str | None, str | None, str | None, str | None]],
    ]
    | None
): ...

"""A ``multipart/form-data`` body sent from its files in chunks, never held in memory whole."""

from __future__ import annotations

import mimetypes
import secrets
from collections.abc import Iterator
from pathlib import Path

CHUNK_BYTES = 1 << 20


class FileChangedError(Exception):
    """A file of the body grew or shrank while it was being sent."""


class MultipartBody:
    """Form ``fields`` and ``files`` as one body whose length is known before it is sent.

    Iterating it reads each file in chunks of ``chunk_bytes``; it can be iterated again (a
    request that is sent twice reads the files again). The length is computed from the files'
    sizes, so the server can refuse a body past its cap from the ``Content-Length`` alone.
    """

    def __init__(self, fields: dict[str, str], files: dict[str, Path], *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.boundary = f"touchstone-{secrets.token_hex(12)}"
        self.chunk_bytes = chunk_bytes
        self._head = b"".join(self._field(name, value) for name, value in fields.items())
        self._files = [(Path(path), self._file_header(name, Path(path))) for name, path in files.items()]
        self._sizes = [path.stat().st_size for path, _ in self._files]
        self._tail = f"--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        files = sum(len(header) + size + 2 for (_, header), size in zip(self._files, self._sizes, strict=True))
        return len(self._head) + files + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        for (path, header), size in zip(self._files, self._sizes, strict=True):
            yield header
            sent = 0
            with open(path, "rb") as handle:
                while chunk := handle.read(self.chunk_bytes):
                    sent += len(chunk)
                    if sent > size:
                        break
                    yield chunk
            if sent != size:
                raise FileChangedError(f"{path} changed size while it was being uploaded ({size} bytes at the start)")
            yield b"\r\n"
        yield self._tail

    def _field(self, name: str, value: str) -> bytes:
        return f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()

    def _file_header(self, name: str, path: Path) -> bytes:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        # A quote or a line break in the name would end the header early.
        filename = path.name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        return (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()

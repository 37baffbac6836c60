"""``HfHubStorage``: checkpoints uploaded to the Hugging Face Hub through an ``HfApi``."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["HfHubStorage"]


class HfHubStorage:
    """A file-like target that uploads what is saved into it to the Hugging Face Hub.

    Pass it where a file is expected, e.g. ``Checkpoint(f_params=HfHubStorage(...))``
    or ``net.save_params(f_params=storage)``. What is written is buffered; each
    ``flush`` (which ``torch.save`` calls once, at the end of a save) uploads the
    buffer as one file with ``hf_api.upload_file``.

    Parameters
    ----------
    hf_api : huggingface_hub.HfApi
        A client with your token (or any object with the same ``upload_file``).
    path_in_repo : str
        The file's path in the repository; ``'{}'`` in it is replaced by the
        number of the upload (0, 1, ...), to keep every checkpoint.
    repo_id : str
    local_storage : str or path, optional
        Also keep a local copy of the latest upload at this path.
    verbose : int, default=0
        Print each upload's URL.
    **kwargs
        Passed to ``upload_file`` (``repo_type``, ``commit_message``, ...).

    Attributes
    ----------
    latest_url_ : str
        What ``upload_file`` returned for the latest upload.

    Examples
    --------
    >>> class FakeApi:
    ...     def upload_file(self, path_or_fileobj, path_in_repo, repo_id, **kwargs):
    ...         return f'{repo_id}/{path_in_repo} ({len(path_or_fileobj.read())} bytes)'
    >>> storage = HfHubStorage(FakeApi(), 'weights-{}.pt', repo_id='me/net')
    >>> storage.write(b'abc'); storage.flush(); storage.latest_url_
    3
    'me/net/weights-0.pt (3 bytes)'
    """

    def __init__(self, hf_api: Any, path_in_repo: str, repo_id: str,
                 local_storage: Any = None, verbose: int = 0, **kwargs: Any):
        self.hf_api = hf_api
        self.path_in_repo = path_in_repo
        self.repo_id = repo_id
        self.local_storage = local_storage
        self.verbose = verbose
        self.kwargs = kwargs
        self._buffer = io.BytesIO()
        self._n_uploads = 0
        self._last_upload = b""

    def write(self, content: bytes | str) -> int:
        if isinstance(content, str):
            content = content.encode("utf-8")
        return self._buffer.write(content)

    def flush(self) -> None:
        """Upload what was written since the last upload (nothing when nothing was)."""
        data = self._buffer.getvalue()
        if not data:
            return
        path = self.path_in_repo.replace("{}", str(self._n_uploads))
        self.latest_url_ = self.hf_api.upload_file(
            path_or_fileobj=io.BytesIO(data), path_in_repo=path, repo_id=self.repo_id,
            **self.kwargs)
        if self.local_storage is not None:
            with open(self.local_storage, "wb") as f:
                f.write(data)
        self._n_uploads += 1
        self._last_upload = data
        self._buffer = io.BytesIO()
        if self.verbose:
            print(f"Uploaded {path} to {self.repo_id}: {self.latest_url_}")

    def close(self) -> None:
        self.flush()

    def truncate(self, size: int | None = None) -> int:
        return self._buffer.truncate(size)

    def read(self, size: int = -1) -> bytes:
        """The content of the latest upload (what a checkpoint loads back)."""
        return self._last_upload if size < 0 else self._last_upload[:size]

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._buffer.seek(offset, whence)

    def tell(self) -> int:
        return self._buffer.tell()

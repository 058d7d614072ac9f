"""What the object stores (`s3://`, `oss://`) share: the layout of artifacts in a bucket, checked and resumable
transfers, and errors said the same way. Not a store itself: `sluiceway.stores.s3` and `sluiceway.stores.oss`
add the requests of their SDKs. It imports no SDK, so that importing a store costs nothing until it is used.
"""

from __future__ import annotations

from .errors import ObjectStoreFailure
from .store import FOLDER_MANIFEST, ObjectStore

__all__ = ["FOLDER_MANIFEST", "ObjectStore", "ObjectStoreFailure"]

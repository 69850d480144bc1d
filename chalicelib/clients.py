"""The function's AWS clients: one botocore session, only the service data it uses.

botocore builds each client from JSON data: S3's model alone is 1.4 MB
(documentation included), its endpoints file 1.2 MB, and before loading a
model it lists the ~400 service directories it ships. For the three clients
this function needs that was ~100 ms of every cold start.

``chalicelib/botocore_data/`` holds what these clients need, written from the
installed botocore by ``scripts/botocore_data.py`` (``make botocore-data``):
the S3, SNS and Secrets Manager models cut to the operations in
:data:`OPERATIONS` (every shape they reach, unchanged, documentation
dropped), their endpoint rule sets as botocore ships them, and botocore's
shared files with the endpoints of these three services only. ``make test``
fails when the copy and the installed botocore drift apart, and an operation
missing from the list is an ``AttributeError`` on the client in every test
that reaches it.

Any other service (STS for an assumed role, say) still loads from botocore's
own data: the lean directory is searched first, botocore's after it.

Clients are plain botocore clients (boto3 is not imported on this path);
``AWS_ENDPOINT_URL`` (botocore's own variable) points them at a local
emulator.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.session import Session

#: Where the lean service data lives (inside the deployment package).
DATA_DIR = Path(__file__).resolve().parent / "botocore_data"

#: The operations the function calls, by service (botocore's names). The
#: backup's multipart copy (s3transfer) needs the multipart calls, botocore's
#: S3 region redirect HeadBucket and S3 Express CreateSession.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "s3": (
        "AbortMultipartUpload",
        "CompleteMultipartUpload",
        "CopyObject",
        "CreateMultipartUpload",
        "CreateSession",
        "GetObject",
        "HeadBucket",
        "HeadObject",
        "PutObject",
        "UploadPartCopy",
    ),
    "sns": ("Publish",),
    "secretsmanager": ("GetSecretValue",),
}

#: Bounded waits and standard retries with backoff for every client.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
MAX_ATTEMPTS = 4


def new_session() -> Session:
    """A botocore session whose loader reads the lean data first."""
    import botocore.loaders
    import botocore.session

    class LeanLoader(botocore.loaders.Loader):
        """botocore's loader with the lean directory first on its search path.

        botocore checks that a service exists before loading its model by
        listing every service directory and looking inside each (~20 ms).
        Here the names come from one ``listdir`` per search path: a name
        without its model still fails, as a missing file, when loaded.
        """

        def list_available_services(self, type_name: str) -> list[str]:
            names: set[str] = set()
            for path in self.search_paths:
                if os.path.isdir(path):
                    names.update(d for d in os.listdir(path) if "." not in d and d[0] != "_")
            return sorted(names)

    session = botocore.session.Session()
    session.register_component("data_loader", LeanLoader(extra_search_paths=[str(DATA_DIR)]))
    return session


def new_client(session: Session, service: str) -> Any:
    """A client with bounded timeouts and standard retries (4 attempts in all)."""
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    )
    return session.create_client(service, config=config)

"""The offline Xero sandbox: Xero's identity and accounting APIs over real HTTP on loopback.

It shares no code with the production client (it is the test oracle). Public API:
`create_app`, `serve`, `SandboxServer` (see `server.py`) and `SandboxConfig`.
"""

from .config import Limits, SandboxConfig
from .server import SandboxServer, create_app, serve

__all__ = ["Limits", "SandboxConfig", "SandboxServer", "create_app", "serve"]

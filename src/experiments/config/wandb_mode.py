"""Which W&B mode a run uses, decided from the environment before anything is logged: never a prompt.

Online only where credentials exist (``WANDB_API_KEY`` or a key ``wandb login`` stored); otherwise offline.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

WANDB_MODES = ("auto", "online", "offline", "disabled")


def wandb_credentials_exist() -> bool:
    """True where ``WANDB_API_KEY`` is set or ``wandb login`` stored a key in the netrc file."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return path.is_file() and netrc.netrc(str(path)).authenticators(host) is not None
    except (netrc.NetrcParseError, OSError):
        return False


def resolve_wandb_mode(requested: str = "auto") -> str:
    """``auto`` means ``WANDB_MODE`` if set, else online with credentials and offline without; never a prompt."""
    if requested not in WANDB_MODES:
        raise ValueError(f"logger.wandb.mode must be one of {WANDB_MODES}, got {requested!r}")
    if requested != "auto":
        return requested
    from_env = os.environ.get("WANDB_MODE", "").strip().lower()
    if from_env in ("online", "offline", "disabled", "dryrun", "run"):
        return {"dryrun": "offline", "run": "online"}.get(from_env, from_env)
    return "online" if wandb_credentials_exist() else "offline"

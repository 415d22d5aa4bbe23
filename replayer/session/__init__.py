"""The pytest plugin's logic, one concern a module: which file (`_select`), record or replay
(`_mode`), answering and recording requests (`_session`, `_pool`), writing and committing the
file (`_commit`), and the network gate for tests without a cassette (`_gate`)."""

from ._gate import LOCAL_HOSTS, Gate, NetworkBlockedError
from ._mode import MODES, Plan, record_mode
from ._select import CassetteSpec, default_path, file_name
from ._session import PLACEHOLDER_KEY, CassetteSession, LiveCassette, RecordingError

__all__ = ["LOCAL_HOSTS", "MODES", "PLACEHOLDER_KEY", "CassetteSession", "CassetteSpec", "Gate", "LiveCassette",
           "NetworkBlockedError", "Plan", "RecordingError", "default_path", "file_name", "record_mode"]

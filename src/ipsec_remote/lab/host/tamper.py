"""The fault ``tamper_revert_files``: a local non-administrator who goes after the dead-man's switch's folder.

Before the first arm (when the host starts) the user creates ``C:\\ProgramData\\ipsec-remote`` — ProgramData
lets users create folders (filesystem.py), and the creator owns what it creates — and plants a script that
writes ``C:\\ProgramData\\ipsec-remote-pwned.txt`` when it runs as SYSTEM, plus fake "revert ran" markers.
Then, on every timer tick, the user does whatever the ACL still lets it do: as the folder's owner it may
rewrite the folder's DACL (an owner always may) to give itself full control back, replace any ``.ps1`` in the
folder with its script (full control on a folder includes deleting its files) and put the markers back. Once
the folder is owned by Administrators and its DACL names only SYSTEM and Administrators, it can do nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .filesystem import OICI, AccessDenied
from .security import FULL, Ace, local_user

if TYPE_CHECKING:
    from .state import LabHost

FOLDER = "C:\\ProgramData\\ipsec-remote"
PWNED = "C:\\ProgramData\\ipsec-remote-pwned.txt"
PAYLOAD = ("$me = [string](whoami.exe /user /fo csv /nh)\r\n"
           "if ($me -like '*S-1-5-18*') { Set-Content -Path '" + PWNED + "' -Value 'a planted script ran as SYSTEM' }"
           "\r\n")
# Shaped like a real marker, so only where it lives (owner, ACL) can tell it apart.
FAKE_MARKER = "ran=2000-01-01T00:00:00.0000000Z\r\nstatus=ok\r\nrestored=1\r\nfailed=0\r\nsid=S-1-5-18\r\n"
SCRIPTS = ("revert.ps1",)
MARKERS = ("revert.done", "ipsec-remote-revert.done", "ipsec-remote-drill.done")


def plant(host: LabHost) -> None:
    act(host)


def act(host: LabHost) -> None:
    user = local_user(host.name)
    fs = host.files
    if not fs.is_dir(FOLDER):
        try:
            fs.mkdir(FOLDER, user)
        except AccessDenied:
            return
    security = fs.security_of(FOLDER)
    if security.owner == user.sid and fs.rights(FOLDER, user) & FULL != FULL:
        regained = security.copy()
        regained.aces.append(Ace(user.sid, FULL, OICI))
        fs.set_security(FOLDER, regained)
    scripts = {f"{FOLDER}\\{name}" for name in SCRIPTS}
    scripts |= {p for p in fs.children(FOLDER) if p.lower().endswith(".ps1")}
    for path in sorted(scripts):
        _replace(host, path, PAYLOAD)
    for name in MARKERS:
        _replace(host, f"{FOLDER}\\{name}", FAKE_MARKER)


def _replace(host: LabHost, path: str, text: str) -> None:
    user = local_user(host.name)
    fs = host.files
    entry = fs.files.get(path.lower())
    if entry is not None and entry.text == text:
        return
    try:
        if entry is not None:
            fs.remove(path, user)
        fs.write(path, text, user)
    except AccessDenied:
        pass
